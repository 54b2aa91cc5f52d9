"""Reference values for core/nn layers, produced with PyTorch (Debian python3-torch 1.13).

Run: /usr/bin/python3 scripts/reference/make_layer_refs.py
Writes test/reference/layers.safetensors. For each case `<c>`: `<c>/param/<name>` (PyTorch
layout), `<c>/in/<name>` inputs, `<c>/out/y` output, `<c>/grad/<name>` gradients of
sum(y * r) with r = `<c>/in/r`, and for BatchNorm `<c>/state/<buffer>` after the forward.
Metadata `cases` describes each case's constructor arguments.
"""
import os, sys
import torch
import torch.nn as nn
import torch.nn.functional as F
sys.path.insert(0, os.path.dirname(__file__))
from st import save

torch.manual_seed(0)
out, cases = {}, {}


def run(name, module, inputs, args, fwd=None, params=True, train=True):
    module.train(train)
    for p in module.parameters():
        with torch.no_grad():
            p.copy_(torch.randn_like(p) * 0.5)
    ins = {k: v.clone().requires_grad_(v.dtype == torch.float32 and k not in ('am', 't')) for k, v in inputs.items()}
    y = fwd(module, ins) if fwd else module(*ins.values())
    r = torch.randn_like(y)
    (y * r).sum().backward()
    for k, v in module.state_dict().items():
        out[f'{name}/param/{k}'] = v.clone()
    for k, p in module.named_parameters():
        out[f'{name}/grad/{k}'] = p.grad
    for k, v in ins.items():
        out[f'{name}/in/{k}'] = v.detach()
        if v.grad is not None:
            out[f'{name}/grad/{k}'] = v.grad
    out[f'{name}/in/r'] = r
    out[f'{name}/out/y'] = y.detach()
    cases[name] = args


# BatchNorm state is captured from its own clean copy (params were randomised above).
def bn_case(name, train):
    m = nn.BatchNorm2d(4)
    with torch.no_grad():
        m.weight.copy_(torch.randn(4)); m.bias.copy_(torch.randn(4))
        m.running_mean.copy_(torch.randn(4) * 0.1); m.running_var.copy_(torch.rand(4) + 0.5)
    state0 = {k: v.clone() for k, v in m.state_dict().items()}
    x = torch.randn(3, 4, 5, 5).requires_grad_()
    m.train(train)
    y = m(x)
    r = torch.randn_like(y)
    (y * r).sum().backward()
    for k, v in state0.items():
        out[f'{name}/param/{k}'] = v
    for k, v in m.state_dict().items():
        if 'running' in k:
            out[f'{name}/state/{k}'] = v.clone()
    for k, p in m.named_parameters():
        out[f'{name}/grad/{k}'] = p.grad
    out[f'{name}/in/x'] = x.detach(); out[f'{name}/grad/x'] = x.grad
    out[f'{name}/in/r'] = r; out[f'{name}/out/y'] = y.detach()
    cases[name] = {'type': 'BatchNorm2d', 'channels': 4, 'train': train}


run('linear', nn.Linear(5, 7), {'x': torch.randn(2, 3, 5)}, {'type': 'Linear', 'in': 5, 'out': 7})
run('linear_nobias', nn.Linear(5, 7, bias=False), {'x': torch.randn(4, 5)}, {'type': 'Linear', 'in': 5, 'out': 7, 'bias': False})
run('conv_s2p1', nn.Conv2d(3, 4, 3, stride=2, padding=1), {'x': torch.randn(2, 3, 9, 9)}, {'type': 'Conv2d', 'in': 3, 'out': 4, 'k': 3, 'stride': 2, 'padding': 1})
run('conv_groups', nn.Conv2d(4, 6, 3, padding=1, groups=2), {'x': torch.randn(2, 4, 5, 5)}, {'type': 'Conv2d', 'in': 4, 'out': 6, 'k': 3, 'padding': 1, 'groups': 2})
run('conv_patch', nn.Conv2d(3, 8, 4, stride=4, bias=False), {'x': torch.randn(2, 3, 8, 8)}, {'type': 'Conv2d', 'in': 3, 'out': 8, 'k': 4, 'stride': 4, 'bias': False})
run('conv_1x1', nn.Conv2d(5, 3, 1), {'x': torch.randn(2, 5, 4, 3)}, {'type': 'Conv2d', 'in': 5, 'out': 3, 'k': 1})
run('conv_rect', nn.Conv2d(2, 3, (3, 2), stride=(1, 2), padding=(2, 0), dilation=(2, 1)), {'x': torch.randn(1, 2, 7, 8)},
    {'type': 'Conv2d', 'in': 2, 'out': 3, 'k': [3, 2], 'stride': [1, 2], 'padding': [2, 0], 'dilation': [2, 1]})
run('convT_k1', nn.ConvTranspose2d(4, 6, 1, bias=False), {'x': torch.randn(2, 4, 3, 3)}, {'type': 'ConvTranspose2d', 'in': 4, 'out': 6, 'k': 1, 'bias': False})
run('convT_s2', nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), {'x': torch.randn(2, 4, 4, 4)},
    {'type': 'ConvTranspose2d', 'in': 4, 'out': 3, 'k': 3, 'stride': 2, 'padding': 1, 'outputPadding': 1})
run('layernorm', nn.LayerNorm(6), {'x': torch.randn(2, 3, 6) * 3 + 1}, {'type': 'LayerNorm', 'dim': 6, 'eps': 1e-5})
run('layernorm_eps6', nn.LayerNorm(6, eps=1e-6), {'x': torch.randn(4, 6)}, {'type': 'LayerNorm', 'dim': 6, 'eps': 1e-6})
bn_case('batchnorm_train', True)
bn_case('batchnorm_eval', False)

kpm = torch.tensor([[False, False, False, True], [False, True, True, True]])
am = torch.triu(torch.full((3, 4), float('-inf')), diagonal=2)
run('mha_packed', nn.MultiheadAttention(8, 2), {'q': torch.randn(3, 2, 8), 'k': torch.randn(4, 2, 8), 'v': torch.randn(4, 2, 8), 'kpm': kpm, 'am': am},
    {'type': 'MultiheadAttention', 'E': 8, 'heads': 2, 'batchFirst': False},
    fwd=lambda m, i: m(i['q'], i['k'], i['v'], key_padding_mask=i['kpm'], attn_mask=i['am'])[0])
run('mha_kv', nn.MultiheadAttention(8, 4, kdim=6, vdim=5, batch_first=True), {'q': torch.randn(2, 3, 8), 'k': torch.randn(2, 4, 6), 'v': torch.randn(2, 4, 5)},
    {'type': 'MultiheadAttention', 'E': 8, 'heads': 4, 'kdim': 6, 'vdim': 5, 'batchFirst': True},
    fwd=lambda m, i: m(i['q'], i['k'], i['v'])[0])
run('embedding', nn.Embedding(11, 4), {'ids': torch.tensor([[1, 3, 3, 0], [10, 2, 1, 1]])}, {'type': 'Embedding', 'num': 11, 'dim': 4})


class Fn(nn.Module):
    def __init__(self, f):
        super().__init__(); self.f = f

    def forward(self, *a):
        return self.f(*a)


run('gelu', Fn(F.gelu), {'x': torch.randn(3, 7) * 3}, {'type': 'gelu'})
run('quick_gelu', Fn(lambda x: x * torch.sigmoid(1.702 * x)), {'x': torch.randn(3, 7) * 3}, {'type': 'quick_gelu'})
run('bce', Fn(lambda x, t: F.binary_cross_entropy_with_logits(x, t).reshape(1)), {'x': torch.randn(2, 9) * 4, 't': (torch.rand(2, 9) > 0.5).float()}, {'type': 'bce'})
for mode in ['bilinear', 'bicubic', 'nearest']:
    for ac in ([False, True] if mode != 'nearest' else [None]):
        for (h, w) in [(11, 7), (3, 5), (16, 16)]:
            name = f'interp_{mode}_{"ac" if ac else "hp"}_{h}x{w}'
            kw = {} if ac is None else {'align_corners': ac}
            run(name, Fn(lambda x, h=h, w=w, kw=kw, mode=mode: F.interpolate(x, (h, w), mode=mode, **kw)), {'x': torch.randn(2, 3, 6, 8)},
                {'type': 'interpolate', 'mode': mode, 'alignCorners': bool(ac), 'size': [h, w]})

dst = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'reference', 'layers.safetensors')
save(dst, {k: (v.to(torch.int64) if v.dtype == torch.bool else v) for k, v in out.items()}, {'cases': cases, 'torch': torch.__version__})
print('wrote', os.path.normpath(dst), len(out), 'tensors', len(cases), 'cases')
