"""Networks that stores own (not task models): the discrete VAE of Scalable Recollections."""

from .dvae import DiscreteVAE, DVAEConfig, gumbel_softmax_hard, pretrain
from .acgan import ACGANSpec, Discriminator, MaskedGenerator
from .dgm import GANTraining, TaskLosses
from .masks import DGMa, DGMw, MaskBank, MaskedLayer, MaskVariant

__all__ = ["DVAEConfig", "DiscreteVAE", "gumbel_softmax_hard", "pretrain"]
__all__ += ["ACGANSpec", "DGMa", "DGMw", "Discriminator", "GANTraining", "MaskBank", "MaskVariant", "MaskedGenerator",
            "MaskedLayer", "TaskLosses"]
