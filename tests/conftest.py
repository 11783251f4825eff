import os
import tempfile
from pathlib import Path

import pytest

# A hub look-up without network waits ~47 s before failing; nothing in the tests may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
# Demo datasets are generated once into a cache shared by test runs and xdist workers.
os.environ.setdefault("I2I_ZOO_DEMO_DIR", str(Path(tempfile.gettempdir()) / "i2i_zoo_test_demo"))


@pytest.fixture
def demo_paired():
    """A factory for a small PairedDataModule on the `shapes` demo data (no worker processes)."""
    from i2i_zoo.data import PairedDataModule

    def make(**overrides):
        options = dict(root="demo:shapes", load_size=64, crop_size=64, batch_size=4, num_workers=0)
        return PairedDataModule(**{**options, **overrides})

    return make
