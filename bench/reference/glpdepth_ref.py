"""Our own PyTorch (eager, Python) implementation of GLPDepth, written from docs/MODEL.md, used as
the reference that the C++ implementation races against (bench/reference/race.py) and is checked
against (tests/model). Module and parameter names equal the reference state_dict keys.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

VARIANTS = {
    "b0": ([32, 64, 160, 256], [2, 2, 2, 2]),
    "b1": ([64, 128, 320, 512], [2, 2, 2, 2]),
    "b2": ([64, 128, 320, 512], [3, 4, 6, 3]),
    "b3": ([64, 128, 320, 512], [3, 4, 18, 3]),
    "b4": ([64, 128, 320, 512], [3, 8, 27, 3]),
    "b5": ([64, 128, 320, 512], [3, 6, 40, 3]),
}
HEADS = [1, 2, 5, 8]
SR_RATIOS = [8, 4, 2, 1]


class PatchEmbed(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.proj = nn.Conv2d(cin, cout, kernel, stride, kernel // 2)
        self.norm = nn.LayerNorm(cout)  # eps 1e-5

    def forward(self, x):
        x = self.proj(x)
        h, w = x.shape[2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class Attention(nn.Module):
    def __init__(self, dim, heads, sr):
        super().__init__()
        self.heads, self.sr_ratio = heads, sr
        self.scale = (dim // heads) ** -0.5
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, 2 * dim)
        self.proj = nn.Linear(dim, dim)
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, sr, sr)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x, h, w):
        b, n, c = x.shape
        d = c // self.heads
        q = self.q(x).reshape(b, n, self.heads, d).permute(0, 2, 1, 3)
        if self.sr_ratio > 1:
            y = x.permute(0, 2, 1).reshape(b, c, h, w)
            y = self.norm(self.sr(y).reshape(b, c, -1).permute(0, 2, 1))
        else:
            y = x
        kv = self.kv(y).reshape(b, -1, 2, self.heads, d).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


class DWConv(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x, h, w):
        b, n, c = x.shape
        return self.dwconv(x.transpose(1, 2).view(b, c, h, w)).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x, h, w):
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), h, w)))


class Block(nn.Module):
    def __init__(self, dim, heads, sr, drop_path):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, sr)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)
        self.drop_path = drop_path

    def _drop(self, x):
        if not self.training or self.drop_path == 0.0:
            return x
        keep = 1.0 - self.drop_path
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def forward(self, x, h, w):
        x = x + self._drop(self.attn(self.norm1(x), h, w))
        return x + self._drop(self.mlp(self.norm2(x), h, w))


class MixVisionTransformer(nn.Module):
    def __init__(self, variant, drop_path_rate=0.1):
        super().__init__()
        dims, depths = VARIANTS[variant]
        self.patch_embed1 = PatchEmbed(3, dims[0], 7, 4)
        self.patch_embed2 = PatchEmbed(dims[0], dims[1], 3, 2)
        self.patch_embed3 = PatchEmbed(dims[1], dims[2], 3, 2)
        self.patch_embed4 = PatchEmbed(dims[2], dims[3], 3, 2)
        total = sum(depths)
        rates = [drop_path_rate * i / (total - 1) for i in range(total)]
        start = 0
        for s in range(4):
            blocks = nn.ModuleList(
                [Block(dims[s], HEADS[s], SR_RATIOS[s], rates[start + i]) for i in range(depths[s])])
            setattr(self, f"block{s + 1}", blocks)
            setattr(self, f"norm{s + 1}", nn.LayerNorm(dims[s], eps=1e-6))
            start += depths[s]

    def forward(self, x):
        outs = []
        for s in range(1, 5):
            x, h, w = getattr(self, f"patch_embed{s}")(x)
            for block in getattr(self, f"block{s}"):
                x = block(x, h, w)
            x = getattr(self, f"norm{s}")(x)
            x = x.reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()
            outs.append(x)
        return outs


def _conv_bn_relu(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, 1), nn.BatchNorm2d(cout), nn.ReLU())


class SFF(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = _conv_bn_relu(2 * c, c)
        self.conv2 = _conv_bn_relu(c, c // 2)
        self.conv3 = nn.Conv2d(c // 2, 2, 3, 1, 1)

    def forward(self, local, glob):
        a = torch.sigmoid(self.conv3(self.conv2(self.conv1(torch.cat([local, glob], 1)))))
        return local * a[:, 0:1] + glob * a[:, 1:2]


def _up(x):
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


class Decoder(nn.Module):
    def __init__(self, in_channels, width):
        super().__init__()
        self.bot_conv = nn.Conv2d(in_channels[0], width, 1)
        self.skip_conv1 = nn.Conv2d(in_channels[1], width, 1)
        self.skip_conv2 = nn.Conv2d(in_channels[2], width, 1)
        self.fusion1, self.fusion2, self.fusion3 = SFF(width), SFF(width), SFF(width)

    def forward(self, c1, c2, c3, c4):
        g = _up(self.bot_conv(c4))
        g = _up(self.fusion1(self.skip_conv1(c3), g))
        g = _up(self.fusion2(self.skip_conv2(c2), g))
        return _up(_up(self.fusion3(c1, g)))


class GLPDepth(nn.Module):
    def __init__(self, variant="b4", max_depth=80.0):
        super().__init__()
        dims, _ = VARIANTS[variant]
        self.max_depth = max_depth
        self.encoder = MixVisionTransformer(variant)
        self.decoder = Decoder([dims[3], dims[2], dims[1]], dims[0])
        self.last_layer_depth = nn.Sequential(
            nn.Conv2d(dims[0], dims[0], 3, 1, 1), nn.ReLU(), nn.Conv2d(dims[0], 1, 3, 1, 1))

    def forward(self, x):
        h, w = x.shape[2:]
        ph, pw = (32 - h % 32) % 32, (32 - w % 32) % 32
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        depth = torch.sigmoid(self.last_layer_depth(self.decoder(*self.encoder(x)))) * self.max_depth
        return depth[:, :, :h, :w]


def synthetic_input(batch, height, width, dtype=torch.float32):
    """The deterministic test image both implementations build (no file exchange needed):
    value(b, c, y, x) = 0.5 + 0.5 * sin(0.05 * x * (c + 1) + 0.07 * y + 0.3 * b + c)."""
    b = torch.arange(batch, dtype=torch.float64).view(-1, 1, 1, 1)
    c = torch.arange(3, dtype=torch.float64).view(1, -1, 1, 1)
    y = torch.arange(height, dtype=torch.float64).view(1, 1, -1, 1)
    x = torch.arange(width, dtype=torch.float64).view(1, 1, 1, -1)
    return (0.5 + 0.5 * torch.sin(0.05 * x * (c + 1) + 0.07 * y + 0.3 * b + c)).to(dtype)
