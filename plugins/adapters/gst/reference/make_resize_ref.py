"""Reference for the GST grid-resize paths (not covered by the parity fixtures,
whose side grid equals the configured IMAGE_SIZE grid and the CLIP grid).

Takes the barleria_tiny fixture's side parameters and CLIP features, feeds a
112x112 image (side grid 7x7 instead of the configured 6x6) and computes, with
PyTorch ops following the official semantics (side_adapter.py forward_features
up to fuse(0), layers.py AddFusion):
  patches = conv(img) + bicubic(pos_embed 6x6 -> 7x7, align_corners=False)
            + bilinear(conv1x1(LN_channels(clip feature after block a)) 6x6 -> 7x7)
for the fusion entry "a->0". Writes resize.safetensors next to this script.

Run: /usr/bin/python3 plugins/adapters/gst/reference/make_resize_ref.py
"""
import json, os, struct, sys
import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..', '..'))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'reference'))
import st  # noqa: E402

FIX = os.environ.get('ZOO_FIXTURES', os.path.join(ROOT, '..', 'shared', 'fixtures'))
_NP = {'F32': np.float32, 'F16': np.float16, 'I64': np.int64}


def read(path):
    with open(path, 'rb') as f:
        buf = f.read()
    n = struct.unpack('<Q', buf[:8])[0]
    header = json.loads(buf[8:8 + n])
    meta = header.pop('__metadata__', {})
    out = {}
    for k, v in header.items():
        a, b = v['data_offsets']
        arr = np.frombuffer(buf[8 + n + a:8 + n + b], dtype=_NP[v['dtype']]).reshape(v['shape'])
        out[k] = torch.from_numpy(arr.astype(np.float32) if v['dtype'] != 'I64' else arr.copy())
    return out, meta


def image(B, S):
    b, c, y, x = np.meshgrid(np.arange(B), np.arange(3), np.arange(S), np.arange(S), indexing='ij')
    return torch.from_numpy(np.sin(0.05 * x + 0.11 * y + 0.7 * c + 1.3 * b).astype(np.float32))


def main():
    main_t, meta = read(os.path.join(FIX, 'parity', 'barleria_tiny.safetensors'))
    mid_t, _ = read(os.path.join(FIX, 'parity', 'barleria_tiny.mid.safetensors'))
    cfg = json.loads(meta['config'])
    d = cfg['dims']
    P = lambda k: main_t['param/side_adapter_network.' + k]
    src = {int(e.split('->')[1]): int(e.split('->')[0]) for e in d['fusion_map']}[0]
    B, S, patch = d['batch'], 112, 16
    g0 = cfg['derived']['grid']
    g = S // patch
    img = image(B, S)
    with torch.no_grad():
        x = F.conv2d(img, P('vit_model.patch_embed.proj.weight'), P('vit_model.patch_embed.proj.bias'), stride=patch)
        x = x.flatten(2).transpose(1, 2)
        C = x.shape[-1]
        pos = P('vit_model.pos_embed').reshape(1, g0, g0, C).permute(0, 3, 1, 2)
        pos = F.interpolate(pos, size=[g, g], mode='bicubic', align_corners=False).flatten(2).permute(0, 2, 1)
        x = x + pos
        seq = mid_t[f'mid/vis_tokens.{src}']
        feat = seq[-g0 * g0:].permute(1, 2, 0).reshape(B, -1, g0, g0)
        u = feat.mean(1, keepdim=True)
        s = (feat - u).pow(2).mean(1, keepdim=True)
        y = (feat - u) / torch.sqrt(s + 1e-6)
        y = P('fusion_layers.layer_0.input_proj.0.weight')[:, None, None] * y + P('fusion_layers.layer_0.input_proj.0.bias')[:, None, None]
        y = F.conv2d(y, P('fusion_layers.layer_0.input_proj.1.weight'), P('fusion_layers.layer_0.input_proj.1.bias'))
        y = F.interpolate(y, size=(g, g), mode='bilinear', align_corners=False).permute(0, 2, 3, 1).reshape(x.shape)
        x = x + y
    st.save(os.path.join(HERE, 'resize.safetensors'), {'patches': x}, {
        'fixture': 'barleria_tiny', 'image': 'img[b,c,y,x] = float32(sin(0.05x + 0.11y + 0.7c + 1.3b))',
        'size': S, 'grid': g, 'config_grid': g0, 'fusion_source': src, 'torch': torch.__version__})
    print('patches', tuple(x.shape), float(x.abs().max()))


if __name__ == '__main__':
    main()
