"""Networks that stores own (not task models): the discrete VAE of Scalable Recollections and DGM's masked AC-GAN."""

from .acgan import ACGANSpec, Discriminator, MaskedGenerator
from .dgm import GANTraining, TaskLosses
from .dvae import DiscreteVAE, DVAEConfig, gumbel_softmax_hard, pretrain, usable_device
from .masks import DGMa, DGMw, MaskBank, MaskedLayer, MaskVariant

__all__ = ["ACGANSpec", "DGMa", "DGMw", "DVAEConfig", "DiscreteVAE", "Discriminator", "GANTraining", "MaskBank",
           "MaskVariant", "MaskedGenerator", "MaskedLayer", "TaskLosses", "gumbel_softmax_hard", "pretrain",
           "usable_device"]
