"""The dVAE's nonlinearity (decision 0037): ELU by default, ReLU by name and for everything saved before."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
import torch

from memstore import Budget, EntropyCodedRecollectionStore, RecollectionStore
from memstore import open as open_store
from memstore.codecs.dvae import DVAECodec
from memstore.errors import InvalidInputError
from memstore.nn.dvae import DiscreteVAE, DVAEConfig
from memstore.testing import random_items

TINY = {"latents": 5, "classes": 3}
STORES = (RecollectionStore, EntropyCodedRecollectionStore)

pytestmark = pytest.mark.usefixtures("one_thread")


def _dead_first_layer(activation: str) -> DiscreteVAE:
    """A dVAE whose decoder's first layer is negative for every code: the state the two-colour stall ended in."""
    model = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3, activation=activation), torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.decoder[0].bias.fill_(-10.0)
    return model


def test_elu_is_the_default_and_relu_is_named() -> None:
    assert DVAEConfig((1, 8, 8), 5, 3).activation == "elu"
    assert DVAECodec((1, 8, 8), 5, 3).get_config()["activation"] == "elu"
    for store_type in STORES:
        assert store_type(Budget(10**5), (1, 8, 8), 10, **TINY).activation == "elu"
        store = store_type(Budget(10**5), (1, 8, 8), 10, **TINY, activation="relu")
        assert store.activation == "relu" and store.model.config.activation == "relu"


def test_elu_decoder_keeps_a_gradient_where_relu_has_none() -> None:
    codes = torch.randint(3, (16, 5), generator=torch.Generator().manual_seed(1))
    targets = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    grads = {}
    for activation in ("relu", "elu"):
        model = _dead_first_layer(activation)
        model.code_loss(codes, targets).backward()
        grads[activation] = model.decoder[0].weight.grad.abs().sum().item()
    assert grads["relu"] == 0.0  # every unit dead: nothing reaches the layer again
    assert grads["elu"] > 0.0


def test_inactive_decoder_units_counts_channels_no_code_reaches() -> None:
    codes = torch.randint(3, (64, 5), generator=torch.Generator().manual_seed(1))
    assert _dead_first_layer("relu").inactive_decoder_units(codes) == 1.0
    model = _dead_first_layer("elu")
    with torch.no_grad():
        model.decoder[0].bias[:4] = 100.0  # 4 of the ceil(15/4) = 4 channels reached again
    assert model.inactive_decoder_units(codes) == 0.0
    with torch.no_grad():
        model.decoder[0].bias[:2] = -100.0
    assert model.inactive_decoder_units(codes) == 0.5


def test_relu_and_elu_models_decode_differently() -> None:
    codes = torch.randint(3, (4, 5), generator=torch.Generator().manual_seed(1))
    relu = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3, activation="relu"), torch.Generator().manual_seed(0))
    elu = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3, activation="elu"), torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(relu.state_dict().values(), elu.state_dict().values()))
    assert not torch.allclose(relu.decode(codes), elu.decode(codes))  # same weights: only the activation differs


def test_configs_saved_before_0037_reopen_with_relu() -> None:
    config = DVAECodec((1, 8, 8), 5, 3, activation="relu").get_config()
    del config["activation"]
    assert DVAECodec.from_config(config).config.activation == "relu"
    store = RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, activation="relu")
    saved = store.config()
    del saved["codec"]["activation"]
    assert RecollectionStore.decode_config(saved)["activation"] == "relu"


@pytest.mark.parametrize("store_type", STORES)
@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_a_store_reopens_with_its_activation(tmp_path: Any, store_type: Any, activation: str) -> None:
    store = store_type(Budget(10**5), (1, 8, 8), 10, **TINY, seed=0, activation=activation)
    store.write(*random_items(6, (1, 8, 8), 10, torch.Generator().manual_seed(0)))
    store.save(tmp_path / "s.zarr")
    opened = open_store(tmp_path / "s.zarr")
    assert opened.activation == activation and opened.model.config.activation == activation
    torch.testing.assert_close(opened.read(np.arange(6)).x, store.read(np.arange(6)).x)


@pytest.mark.parametrize("bad", ["gelu", "", None, 1])
def test_an_unknown_activation_is_refused(bad: Any) -> None:
    with pytest.raises(InvalidInputError, match="activation must be one of"):
        DVAEConfig((1, 8, 8), 5, 3, activation=bad)
    for store_type in STORES:
        with pytest.raises(InvalidInputError, match="activation must be one of"):
            store_type(Budget(10**5), (1, 8, 8), 10, **TINY, activation=bad)


def test_a_pretrained_dvae_of_another_activation_is_refused() -> None:
    relu = DiscreteVAE(DVAEConfig((1, 8, 8), 5, 3, activation="relu"), torch.Generator().manual_seed(0))
    with pytest.raises(InvalidInputError, match="pass activation='relu'"):
        RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, dvae=relu)
    assert RecollectionStore(Budget(10**5), (1, 8, 8), 10, **TINY, dvae=relu, activation="relu").activation == "relu"


@pytest.mark.parametrize("store_type", STORES)
def test_a_pretrained_dvae_of_another_shape_is_refused_by_name(store_type: type) -> None:
    own = store_type(Budget(10**5), (1, 8, 8), 10, **TINY).model.config
    for change in ({"tau": own.tau * 2}, {"latents": own.latents + 1}, {"code_side": 4}):
        other = DiscreteVAE(dataclasses.replace(own, **change), torch.Generator().manual_seed(0))
        name, value = next(iter(change.items()))
        with pytest.raises(InvalidInputError, match=f"pass {name}={value!r}"):
            store_type(Budget(10**5), (1, 8, 8), 10, **TINY, dvae=other)
    wrong = DiscreteVAE(dataclasses.replace(own, latents=own.latents + 1), torch.Generator().manual_seed(0))
    with pytest.raises(InvalidInputError, match="do not fit the store's dVAE"):
        store_type(Budget(10**5), (1, 8, 8), 10, **TINY, dvae=wrong.state_dict())
