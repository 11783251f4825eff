"""The distributed strategy the recipes name: `ddp_gan` (`--trainer.strategy ddp_gan`,
`recipes/ddp.yaml`), registered in Lightning's StrategyRegistry when `i2i_zoo.methods` is
imported.

A GAN step leaves parameters out of the graph: the discriminator takes no part in the
generator's update, and each `optimize` toggles the other optimizers' parameters off. Plain DDP
then waits for their gradients and fails ("parameters that were not used"), so DDP has to look
for unused parameters after every backward (one traversal of the autograd graph). One wrapper
with that search is simpler than separate wrappers per network, which Lightning's DDP, wrapping
the one LightningModule, does not offer.

Nothing else is set: `static_graph=True` fails (the used parameters change between the D and G
updates of one step), and `gradient_as_bucket_view=True` made no measurable difference (2 CPU
processes, small 64 px models: pix2pix 122-140 ms/it, CycleGAN 417-436 ms/it with or without).
"""

from lightning.pytorch.strategies import DDPStrategy, StrategyRegistry

STRATEGY = "ddp_gan"

# The process group backend is Lightning's choice: nccl on GPUs, gloo on CPUs.
StrategyRegistry.register(
    STRATEGY,
    DDPStrategy,
    description="DDP for GANs: find_unused_parameters=True (each step updates only some networks)",
    find_unused_parameters=True,
)
