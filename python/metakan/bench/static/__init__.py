"""A static performance model of the fused GPU kernels, read from their compiled SASS (``metakan bench --static``)."""
