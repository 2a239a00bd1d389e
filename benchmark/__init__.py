"""Benchmark suite for the design space of diffusion-based speech enhancement.

Reproduces and extends Gonzalez et al., "Investigating the Design Space of Diffusion Models for
Speech Enhancement", IEEE/ACM TASLP 32, 2024 (arXiv 2312.04370).
"""
__version__ = "0.1.0"
