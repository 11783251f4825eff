"""Training-time helpers: sample grids, prediction writing, atomic checkpoints, compilation."""

from i2i_zoo.callbacks.best_checkpoint import PhaseCheckpoint
from i2i_zoo.callbacks.checkpoint_io import AtomicCheckpointIO, read_checkpoint
from i2i_zoo.callbacks.compile import CompileNetworks
from i2i_zoo.callbacks.console import PrintMetrics
from i2i_zoo.callbacks.prediction_writer import PredictionWriter
from i2i_zoo.callbacks.samples import SampleGrid, sample_grid

__all__ = ["AtomicCheckpointIO", "CompileNetworks", "PhaseCheckpoint", "PrintMetrics", "PredictionWriter", "SampleGrid", "read_checkpoint", "sample_grid"]
