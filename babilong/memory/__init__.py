"""Recurrent memory models (RMT, RMT-R, ARMT) around HF causal LMs, their training and use.

Modules import torch, so import them only where it is needed (``babilong train``/``eval``).
"""

ARCHS = {"rmt": "babilong.memory.rmt:RMT", "rmt-r": "babilong.memory.rmt_r:RMTR", "armt": "babilong.memory.armt:ARMT"}
