"""paramscope: where the parameters, FLOPs, latency and memory of a PyTorch model go."""

__version__ = "0.1.0"
