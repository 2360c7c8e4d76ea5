"""Speed tricks the back ends apply to a plain-torch network from outside: the fused CPU attention kernels
(`fused_attention`, C source in `attention_kernels.c`) and the module swap that puts them into a network's residual
blocks (`fuse_attention`)."""

from .fused_blocks import FusedAttentionMerge, fuse_attention, unfuse_attention

__all__ = ["FusedAttentionMerge", "fuse_attention", "unfuse_attention"]
