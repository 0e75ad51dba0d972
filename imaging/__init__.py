"""Image work as small pure functions over bytes and Pillow images.

    checks.py   decode upstream bytes completely, within pixel limits; verify PNG structure
    png.py      lossless PNG encoding (fpng where it can, Pillow otherwise)
    formats.py  the table of formats artproxy writes: mime, extension, encoder
    transforms.py  exact sizes (crop and resize) and transparent backgrounds
"""

from imaging.checks import declared_pixels, open_checked, png_from_upstream  # noqa: F401
from imaging.formats import BY_EXTENSION, BY_MIME, FORMATS, JPEG, PNG, WEBP, ImageFormat  # noqa: F401
from imaging.png import to_png  # noqa: F401
from imaging.transforms import fit, make_transparent  # noqa: F401
