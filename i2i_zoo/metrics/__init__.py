"""Image-quality metrics as a Lightning callback (FID, KID, PSNR, SSIM, MS-SSIM, LPIPS) and the
loading of their pretrained feature extractors."""

from i2i_zoo.metrics.callback import METRICS, ImageQualityMetrics
from i2i_zoo.metrics.inception import FID_WEIGHTS_ENV, InceptionV3FID, load_fid_inception, resolve_fid_weights

__all__ = ["FID_WEIGHTS_ENV", "METRICS", "ImageQualityMetrics", "InceptionV3FID", "load_fid_inception", "resolve_fid_weights"]
