"""The weight-sharing supernet: OFA-compatible elastic MobileNetV3, training, evaluation, export.

Only names the command line needs at parse time live here, so ``nas --help`` does not import torch.
"""

SCHEDULES = ("sandwich", "progressive")
EXPORT_FORMATS = ("onnx", "torchscript", "pt")
CALIBRATION_IMAGES = 2000  # training images for batch-norm recalibration before evaluating a subnet
