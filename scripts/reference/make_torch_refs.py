"""Reference files for the PyTorch readers (core/io/zip.ts, pickle.ts, torch.ts, checkpoint.ts).

Run with /usr/bin/python3 (torch 1.13, numpy) from the repository root:

    /usr/bin/python3 scripts/reference/make_torch_refs.py

Writes small files to test/reference/torch/:
  views.pth / views_p4.pth / views_legacy.pth  torch.save of tensors of every dtype, including
                                               non-contiguous views, offsets, stride-0 expansions,
                                               shared storages and a Parameter (zip with pickle
                                               protocol 2 and 4, and the legacy non-zip format)
  views.expected.safetensors                   the same tensors, contiguous
  nested.pth, nested.json                      a training checkpoint (epoch, numpy best score,
                                               nested state dict with `module.` prefix, optimizer)
  module_sd.pth, module_sd.expected.safetensors  model.state_dict() of a small nn.Module
                                               (OrderedDict with _metadata, int64 buffer)
  script.pt, script.expected.safetensors       TorchScript module: parameters, buffers, a plain tensor
                                               attribute, ModuleList, fp16; names/order in metadata
  data_p{0,2,4,5}.pkl                          a pure-data pickle (no torch) in several protocols
  evil_system.pkl, evil_eval_p4.pkl, evil.pth  pickles naming os.system / builtins.eval
"""
import collections
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'reference', 'torch')
os.makedirs(OUT, exist_ok=True)

_ST = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64', torch.int64: 'I64',
       torch.int32: 'I32', torch.int16: 'I16', torch.int8: 'I8', torch.uint8: 'U8', torch.bool: 'BOOL'}


def raw_bytes(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def save_st(path, tensors, metadata=None):
    header, blobs, off = {}, [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name, t in tensors.items():
        b = raw_bytes(t)
        header[name] = {'dtype': _ST[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - (len(h) + 8) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def out(name):
    return os.path.join(OUT, name)


torch.manual_seed(0)

# --- tensors of every dtype and layout -------------------------------------------------------
base = torch.arange(24, dtype=torch.float32).reshape(4, 6) - 5.5
shared = torch.randn(3, 4)
views = collections.OrderedDict()
views['f32'] = torch.randn(2, 3)
views['f32_transposed'] = base.t()                                   # stride (1, 6)
views['f32_slice'] = base[1:, 2:5]                                   # offset 8, stride (6, 1)
views['f32_step'] = base[::2, ::3]                                   # stride (12, 3)
views['f32_expand'] = torch.arange(3, dtype=torch.float32).expand(4, 3)  # stride (0, 1)
views['f32_scalar'] = torch.tensor(3.25)
views['f32_empty'] = torch.zeros(0, 3)
views['f32_offset'] = torch.arange(10, dtype=torch.float32)[7:]      # offset 7
views['shared_a'] = shared
views['shared_b'] = shared[1]                                        # same storage, offset 4
views['shared_c'] = shared.t()                                       # same storage, transposed
views['f64'] = torch.tensor([[1.5, -2.25], [1e300, -0.0]], dtype=torch.float64).t()
views['f16'] = torch.randn(3, 5).half().t()
views['bf16'] = torch.randn(4, 2).bfloat16()
views['bf16_t'] = torch.randn(4, 2).bfloat16().t()
views['i64'] = torch.tensor([0, 1, -1, 2 ** 62, -(2 ** 63), 2 ** 63 - 1], dtype=torch.int64)
views['i64_permuted'] = torch.arange(24).reshape(2, 3, 4).permute(2, 0, 1)
views['i32'] = torch.tensor([[-7, 8], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32).t()
views['i16'] = torch.tensor([-300, 300], dtype=torch.int16)
views['i8'] = torch.tensor([-128, 127, 0], dtype=torch.int8)
views['u8'] = torch.tensor([[0, 255], [1, 2]], dtype=torch.uint8).t()
views['bool'] = torch.tensor([[True, False, True], [False, False, True]]).t()
views['param'] = torch.nn.Parameter(torch.randn(2, 2))

torch.save(views, out('views.pth'))
torch.save(views, out('views_p4.pth'), pickle_protocol=4)
torch.save(views, out('views_legacy.pth'), _use_new_zipfile_serialization=False)
save_st(out('views.expected.safetensors'), views, {'names': json.dumps(list(views))})

# --- a training checkpoint ---------------------------------------------------------------------
lin = torch.nn.Linear(3, 2)
opt = torch.optim.Adam(lin.parameters(), lr=1e-3)
lin(torch.randn(4, 3)).sum().backward()
opt.step()
state = collections.OrderedDict()
state['module.backbone.weight'] = lin.weight.detach().clone()
state['module.backbone.bias'] = lin.bias.detach().clone()
state['module.head'] = collections.OrderedDict([('proj.weight', torch.randn(2, 2)), ('proj.bias', torch.zeros(2))])
ckpt = {
    'epoch': 7,
    'best_IoU': np.float64(0.625),
    'args': {'lr': 1e-4, 'name': 'barleria', 'flags': [True, None, 2 ** 70], 'size': (416, 416)},
    'state_dict': state,
    'optimizer': opt.state_dict(),
}
torch.save(ckpt, out('nested.pth'))
with open(out('nested.json'), 'w') as f:
    json.dump({'names': ['module.backbone.weight', 'module.backbone.bias', 'module.head.proj.weight', 'module.head.proj.bias'],
               'values': {'module.backbone.weight': lin.weight.detach().flatten().tolist(),
                          'module.head.proj.weight': state['module.head']['proj.weight'].flatten().tolist()}}, f)

# --- model.state_dict() of a module (OrderedDict with _metadata) -------------------------------
net = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3), torch.nn.BatchNorm2d(3), torch.nn.Sequential(torch.nn.Linear(3, 1)))
net[1].running_mean.uniform_()
net[1].num_batches_tracked += 5
sd = net.state_dict()
torch.save(sd, out('module_sd.pth'))
save_st(out('module_sd.expected.safetensors'), sd, {'names': json.dumps(list(sd))})


# --- TorchScript -------------------------------------------------------------------------------
class Block(torch.nn.Module):
    def __init__(self, w):
        super().__init__()
        self.fc = torch.nn.Linear(w, w)
        self.register_buffer('scale', torch.full((w,), 0.5))
        self.mask = torch.ones(w)  # plain tensor attribute: not in state_dict
        self.depth = 3

    def forward(self, x):
        return self.fc(x) * self.scale * self.mask


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.class_embedding = torch.nn.Parameter(torch.randn(4))
        self.blocks = torch.nn.ModuleList([Block(4), Block(4)])
        self.proj = torch.nn.Parameter(torch.randn(4, 2).half())
        self.register_buffer('steps', torch.tensor([1, 2, 3]))
        self.empty = torch.nn.Sequential()

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x + self.class_embedding


scripted = torch.jit.script(Net())
scripted.save(out('script.pt'))
loaded = torch.jit.load(out('script.pt'))
jsd = loaded.state_dict()
save_st(out('script.expected.safetensors'), jsd, {'names': json.dumps(list(jsd))})

# --- pure data pickles -------------------------------------------------------------------------
shared_list = [1, 2]
data = {
    'int': 7, 'neg': -300, 'big': 2 ** 64 + 1, 'negbig': -(2 ** 70), 'i32': 2 ** 31 - 1,
    'float': 1.5, 'nan': float('nan'), 'str': 'héllo ✓', 'bytes': b'\x00\xffab', 'empty_bytes': b'',
    'none': None, 'true': True, 'false': False,
    'tuple': (1, 'a', (2.5,)), 'list': [1, [2, [3]]], 'set': {1}, 'frozenset': frozenset(['x']),
    'od': collections.OrderedDict([('b', 1), ('a', 2)]), 'shared': [shared_list, shared_list],
    'intkeys': {1: 'one', 2: 'two'},
}
for proto in (0, 2, 4, 5):
    with open(out(f'data_p{proto}.pkl'), 'wb') as f:
        pickle.dump(data, f, protocol=proto)


# --- hostile pickles ---------------------------------------------------------------------------
class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


class EvilEval:
    def __reduce__(self):
        return (eval, ('1+1',))


with open(out('evil_system.pkl'), 'wb') as f:
    pickle.dump({'weights': Evil()}, f, protocol=2)
with open(out('evil_eval_p4.pkl'), 'wb') as f:
    pickle.dump([EvilEval()], f, protocol=4)

# A torch.save-shaped zip whose data.pkl calls os.system.
buf = io.BytesIO()
torch.save({'w': torch.zeros(2)}, buf)
src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
with zipfile.ZipFile(out('evil.pth'), 'w', compression=zipfile.ZIP_STORED) as z:
    for info in src.infolist():
        payload = src.read(info.filename)
        if info.filename.endswith('/data.pkl'):
            payload = pickle.dumps({'w': Evil()}, protocol=2)
        z.writestr(info.filename.replace('archive/', 'evil/'), payload)

print('wrote', sorted(os.listdir(OUT)))
