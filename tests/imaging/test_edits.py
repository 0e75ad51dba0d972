"""What an edit starts from, without a server: the caller's image and mask, checked, and the
region to redraw."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from errors import BadImage
from imaging.edits import open_editable, region_to_redraw, within_side


def encoded(image: Image.Image, image_format: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def opened(image: Image.Image, image_format: str = "PNG") -> Image.Image:
    return open_editable(encoded(image, image_format), "image", 10_000)


def test_the_masks_transparent_pixels_are_the_region():
    mask = Image.new("RGBA", (10, 10), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (2, 3, 5, 7))
    region = region_to_redraw(opened(Image.new("RGB", (10, 10))),
                              open_editable(encoded(mask, "PNG"), "mask", 10_000))
    assert region.mode == "L" and region.getbbox() == (2, 3, 5, 7)
    assert region.getpixel((3, 4)) == 255 and region.getpixel((0, 0)) == 0


def test_without_a_mask_the_images_own_transparent_pixels_are_the_region():
    image = Image.new("RGBA", (10, 10), (9, 9, 9, 255))
    image.paste((0, 0, 0, 0), (0, 0, 4, 10))
    assert region_to_redraw(opened(image), None).getbbox() == (0, 0, 4, 10)


@pytest.mark.parametrize("image, mask, param, words", [
    (Image.new("RGB", (10, 10)), None, "mask", "send a mask"),
    (Image.new("RGBA", (10, 10), (1, 1, 1, 255)), None, "image", "no fully transparent pixel"),
    (Image.new("RGB", (10, 10)), Image.new("RGBA", (8, 8)), "mask", "must match"),
    (Image.new("RGB", (10, 10)), Image.new("RGB", (10, 10)), "mask", "alpha channel"),
])
def test_nothing_to_redraw_or_a_mask_that_does_not_fit_is_a_bad_image_naming_the_field(
        image, mask, param, words):
    with pytest.raises(BadImage, match=words) as refused:
        region_to_redraw(opened(image), opened(mask) if mask is not None else None)
    assert refused.value.param == param and refused.value.status_code == 400


@pytest.mark.parametrize("data, words", [
    (b"", "empty"), (b"not an image", "not a complete image"),
    (encoded(Image.new("RGB", (200, 100)), "PNG"), "pixel limit"),
    (encoded(Image.new("RGB", (10, 10)), "GIF"), "PNG, JPEG or WebP, not GIF"),
])
def test_an_image_that_cannot_be_edited_is_a_bad_image_naming_the_field(data, words):
    with pytest.raises(BadImage, match=words) as refused:
        open_editable(data, "mask", 10_000)
    assert refused.value.param == "mask"


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP"])
def test_png_jpeg_and_webp_can_be_edited(image_format):
    assert opened(Image.new("RGB", (10, 10)), image_format).size == (10, 10)


def test_a_large_image_is_edited_within_the_largest_side_its_region_all_or_nothing():
    image = Image.new("RGBA", (4000, 1000), (10, 20, 30, 255))
    region = Image.new("L", (4000, 1000), 0)
    region.paste(255, (1000, 0, 2000, 1000))
    smaller, smaller_region = within_side(image, region, 2048)
    assert smaller.size == smaller_region.size == (2048, 512) and smaller.mode == "RGBA"
    assert sorted(color for _, color in smaller_region.getcolors()) == [0, 255]
    assert smaller_region.getbbox() == (512, 0, 1024, 512)
    same, same_region = within_side(Image.new("RGB", (64, 64)), Image.new("L", (64, 64)), 2048)
    assert same.size == (64, 64) and same.mode == "RGBA"
