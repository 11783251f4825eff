"""Image-quality metrics as a Lightning callback (FID, KID, PSNR, SSIM, MS-SSIM, LPIPS), the
loading of their pretrained feature extractors, and segmentation scores of colour label maps
(`SegmentationScores` and its callback `SegmentationMetrics`), the FCN score of translated
photos (`FCNScore`), and the attribute classification error of translations
(`AttributeClassificationError`)."""

from i2i_zoo.metrics.attribute_error import AttributeClassificationError, DemoTintClassifier
from i2i_zoo.metrics.callback import METRICS, ImageQualityMetrics
from i2i_zoo.metrics.fcn_score import SEGMENTER_WEIGHTS_ENV, SEGMENTERS, FCNScore
from i2i_zoo.metrics.inception import FID_WEIGHTS_ENV, InceptionV3FID, load_fid_inception, resolve_fid_weights
from i2i_zoo.metrics.segmentation import (
    CITYSCAPES_PALETTE,
    Palette,
    SegmentationScores,
    confusion_matrix,
    labels_from_colour_map,
    nearest_palette_labels,
    segmentation_scores,
)
from i2i_zoo.metrics.segmentation_callback import PALETTES, SegmentationMetrics

__all__ = [
    "AttributeClassificationError",
    "CITYSCAPES_PALETTE",
    "DemoTintClassifier",
    "FCNScore",
    "FID_WEIGHTS_ENV",
    "METRICS",
    "PALETTES",
    "SEGMENTERS",
    "SEGMENTER_WEIGHTS_ENV",
    "ImageQualityMetrics",
    "InceptionV3FID",
    "Palette",
    "SegmentationMetrics",
    "SegmentationScores",
    "confusion_matrix",
    "labels_from_colour_map",
    "load_fid_inception",
    "nearest_palette_labels",
    "resolve_fid_weights",
    "segmentation_scores",
]
