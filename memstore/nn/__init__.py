"""Networks that stores own (not task models): the discrete VAE of Scalable Recollections."""

from .dvae import DiscreteVAE, DVAEConfig, gumbel_softmax_hard, pretrain

__all__ = ["DVAEConfig", "DiscreteVAE", "gumbel_softmax_hard", "pretrain"]
