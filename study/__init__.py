"""study: the degradation-problem study of He et al. (2015), reproduced on CIFAR-10.

Its layers, and what each holds, are mapped in docs/design.md; pyproject.toml's
[tool.importlinter] contract enforces them (`make lint`).
"""
