"""`i2i-zoo convert`: network files of the original pix2pix/CycleGAN, StarGAN and BigGAN code to an
i2i-zoo checkpoint (for `i2i-zoo predict --ckpt_path`), and pix2pix/CycleGAN back."""

from __future__ import annotations

import argparse

from i2i_zoo.convert.checkpoint import load_checkpoint, save_checkpoint
from i2i_zoo.convert.original import load_original_cyclegan, load_original_pix2pix, save_original
from i2i_zoo.convert.stargan import load_original_stargan
from i2i_zoo.methods.biggan import BigGAN
from i2i_zoo.methods.pix2pix import DIRECTIONS, INFERENCE_MODES
from i2i_zoo.methods.stargan import LABEL_TYPES

# The arguments read off the files, printed so the user sees what was inferred.
_SHOWN = ("generator", "num_downs", "ngf", "norm", "use_dropout", "ndf", "n_layers_D", "channels_A", "channels_B", "direction")
_SHOWN_BIGGAN = ("n_classes", "image_size", "G_ch", "D_ch", "dim_z", "shared_dim", "hier", "G_attn", "D_attn")
_SHOWN_STARGAN = ("domains", "label_type", "image_size", "g_conv_dim", "g_repeat_num", "d_conv_dim", "d_repeat_num")

EXAMPLES = """examples:
  i2i-zoo convert pix2pix --G facades_label2photo/latest_net_G.pth --direction BtoA --output facades.ckpt
  i2i-zoo convert cyclegan --G_A horse2zebra/latest_net_G.pth --output horse2zebra.ckpt
  i2i-zoo convert cyclegan --G_A 200_net_G_A.pth --G_B 200_net_G_B.pth --D_A 200_net_D_A.pth --D_B 200_net_D_B.pth --output run.ckpt
  i2i-zoo convert stargan --G stargan_celeba_128/models/200000-G.ckpt --D stargan_celeba_128/models/200000-D.ckpt --output celeba.ckpt
  i2i-zoo convert biggan --G 138k/G.pth --G_ema 138k/G_ema.pth --D 138k/D.pth --output biggan128.ckpt
  i2i-zoo convert to-original --ckpt_path last.ckpt --output_dir checkpoints/my_run
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="i2i-zoo convert", description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    methods = parser.add_subparsers(dest="method", required=True)

    pix2pix = methods.add_parser("pix2pix", help="<epoch>_net_G.pth [+ _net_D.pth] -> a Pix2Pix checkpoint")
    pix2pix.add_argument("--G", required=True, help="the original's generator file, e.g. latest_net_G.pth")
    pix2pix.add_argument("--D", help="its discriminator file (optional; absent, D keeps its initialisation)")
    pix2pix.add_argument(
        "--direction", choices=DIRECTIONS, default="AtoB",
        help="the --direction the model was trained with: BtoA makes G translate the dataset's B to A (default AtoB)",
    )
    pix2pix.add_argument(
        "--inference_mode", choices=INFERENCE_MODES, default="train",
        help="train (default): dropout and batch statistics at test time, as the original tests; eval: deterministic",
    )
    pix2pix.add_argument("--no_dropout", action="store_true", help="the model was trained with --no_dropout (the file does not say)")
    pix2pix.add_argument("--output", required=True, help="the checkpoint to write (.ckpt)")

    cyclegan = methods.add_parser(
        "cyclegan", help="<epoch>_net_G_A.pth, _net_G_B.pth [+ _net_D_A.pth, _net_D_B.pth] -> a CycleGAN checkpoint"
    )
    cyclegan.add_argument("--G_A", help="the original's G_A (A -> B), e.g. latest_net_G_A.pth, or a published latest_net_G.pth")
    cyclegan.add_argument("--G_B", help="its G_B (B -> A); one generator is enough, the other then stays untrained")
    cyclegan.add_argument("--D_A", help="its D_A (judges B images; our D_B), optional")
    cyclegan.add_argument("--D_B", help="its D_B (judges A images; our D_A), optional")
    cyclegan.add_argument(
        "--direction", choices=DIRECTIONS,
        help="the direction predict translates (default: AtoB, or BtoA when only --G_B is given)",
    )
    cyclegan.add_argument("--output", required=True, help="the checkpoint to write (.ckpt)")

    stargan = methods.add_parser("stargan", help="<iteration>-G.ckpt [+ -D.ckpt] -> a StarGAN checkpoint")
    stargan.add_argument("--G", required=True, help="the original's generator file, e.g. 200000-G.ckpt")
    stargan.add_argument("--D", help="its discriminator file (optional; it also gives the image size)")
    stargan.add_argument(
        "--domains", nargs="+",
        help="the domain or attribute names in label order, the original's --selected_attrs (default: the paper's "
        "five CelebA attributes for 5 labels, else domain_0, domain_1, ...)",
    )
    stargan.add_argument(
        "--label_type", choices=LABEL_TYPES, default="attributes",
        help="attributes (CelebA, the default) or exclusive (one domain per image, e.g. RaFD)",
    )
    stargan.add_argument("--image_size", type=int, help="the training image size when there is no --D (default 128)")
    stargan.add_argument("--predict_target", help="the domain or attribute name that predict translates to")
    stargan.add_argument("--output", required=True, help="the checkpoint to write (.ckpt)")

    biggan = methods.add_parser("biggan", help="BigGAN-PyTorch's G.pth [+ D.pth, G_ema.pth] -> a BigGAN checkpoint")
    biggan.add_argument("--G", required=True, help="the generator file, G.pth (the architecture is read off its shapes)")
    biggan.add_argument("--D", help="the discriminator file, D.pth (optional; absent, D keeps its initialisation)")
    biggan.add_argument("--G_ema", help="the moving-average generator, G_ema.pth, which generates (default: a copy of --G)")
    biggan.add_argument("--domains", nargs="+", help="the class names in label order, naming predict's folders (default: 0, 1, ...)")
    biggan.add_argument("--samples_per_class", type=int, default=10, help="images predict writes per class (default 10)")
    biggan.add_argument("--output", required=True, help="the checkpoint to write (.ckpt)")

    back = methods.add_parser("to-original", help="an i2i-zoo Pix2Pix/CycleGAN checkpoint -> the original's <epoch>_net_*.pth")
    back.add_argument("--ckpt_path", required=True, help="a Lightning checkpoint of Pix2Pix or CycleGAN")
    back.add_argument("--output_dir", required=True, help="the folder for the .pth files (the original's checkpoints/<name>/)")
    back.add_argument("--epoch", default="latest", help="file name prefix, the original's --epoch (default latest)")
    return parser


def main(argv: list[str]) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.method == "to-original":
        for path in save_original(load_checkpoint(args.ckpt_path), args.output_dir, args.epoch):
            print(path)
        return
    if args.method == "pix2pix":
        model = load_original_pix2pix(
            args.G, args.D, direction=args.direction, inference_mode=args.inference_mode, use_dropout=not args.no_dropout
        )
    elif args.method == "biggan":
        model = BigGAN.from_biggan_pytorch(
            args.G, args.D, args.G_ema, domains=args.domains, samples_per_class=args.samples_per_class
        )
    elif args.method == "stargan":
        model = load_original_stargan(
            args.G, args.D, domains=args.domains, label_type=args.label_type, image_size=args.image_size,
            predict_target=args.predict_target,
        )
    else:
        if args.G_A is None and args.G_B is None:
            parser.error("convert cyclegan needs --G_A or --G_B (or both)")
        overrides = {} if args.direction is None else {"direction": args.direction}
        model = load_original_cyclegan(args.G_A, args.G_B, args.D_A, args.D_B, **overrides)
    path = save_checkpoint(model, args.output)
    keys = {"stargan": _SHOWN_STARGAN, "biggan": _SHOWN_BIGGAN}.get(args.method, _SHOWN)
    shown = ", ".join(f"{key}={model.hparams[key]}" for key in keys if key in model.hparams)
    print(f"{path}: {type(model).__name__}({shown})")
