"""One still photo's depth: decode -> depth -> encode, the one path `infer` (images), `POST /depth` and `eval` share.

  decode.py  the photo: uploaded bytes (format and size checked from the header first) or a file, as BGR
  depth.py   its depth: any predictor (the live model, the upload runner beside it, a torch network), float32,
             NaN or inf refused (`core/finite.py`); `PhotoDepth`, the interface publishers compute uploads with
  encode.py  the depth as a file: colorized PNG at the photo's size (its own robust range), 16-bit PNG, raw .npy

The network side that computes uploads beside the live worker lives with the model (`model/photo_runner.py`);
videos are not stills: `infer VIDEO` runs the inference worker's per-frame path (`pipeline/offline.py`).
"""
