"""The service without HTTP: several pictures or edits at once, each different, as asked."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from errors import BadImage
from generator_client import ImageOptions
from service import ImageService


def service_of(make_app, **settings) -> ImageService:
    return make_app(PROVIDER=("offline",), **settings).extensions["artproxy"]


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_render_many_draws_that_many_different_pictures_as_asked(make_app):
    rendered = service_of(make_app).render_many("a fox", ImageOptions(width=96, height=64,
                                                                      format="webp"), 3)
    assert len(rendered) == 3 and len({picture.data for picture in rendered}) == 3
    for picture in rendered:
        assert (picture.width, picture.height, picture.format.name) == (96, 64, "webp")
        assert decoded(picture.data).size == (96, 64)


def test_one_picture_keeps_the_callers_seed(make_app):
    service = service_of(make_app)
    seeded = ImageOptions(width=64, height=64, seed=7)
    once, = service.render_many("a fox", seeded, 1)
    assert once.data == service.render("a fox", seeded).data


def test_edit_many_redraws_only_the_region_of_each(make_app):
    original = Image.new("RGB", (64, 64), (20, 160, 40))
    mask = Image.new("RGBA", (64, 64), (0, 0, 0, 255))
    mask.paste((0, 0, 0, 0), (0, 0, 32, 64))  # redraw the left half
    data = []
    for picture in (original, mask):
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        data.append(buffer.getvalue())
    service = service_of(make_app)
    edited = service.edit_many("a sunset", service.editable([data[0]], data[1]), ImageOptions(), 2)
    assert len({picture.data for picture in edited}) == 2
    for picture in edited:
        image = decoded(picture.data).convert("RGB")
        assert image.getpixel((48, 32)) == (20, 160, 40)  # kept
        assert image.getpixel((16, 32)) != (20, 160, 40)  # drawn


def test_an_edit_of_a_large_image_is_drawn_within_the_largest_side(make_app):
    service = service_of(make_app)
    asked = []
    drawing = service.provider

    class Recording:
        name = "offline"

        def generate(self, prompt, options):
            asked.append(options.size)
            return drawing.generate(prompt, options)

    service.provider = Recording()
    large = Image.new("RGBA", (4096, 3072), (20, 160, 40, 255))
    large.paste((0, 0, 0, 0), (0, 0, 2048, 3072))
    buffer = io.BytesIO()
    large.save(buffer, format="PNG")
    edited = service.edit_many("a sunset", service.editable([buffer.getvalue()], None),
                               ImageOptions(), 2)
    assert asked == [(2048, 1536), (2048, 1536)]
    assert {(picture.width, picture.height) for picture in edited} == {(2048, 1536)}


def test_several_images_may_hold_no_more_pixels_together_than_one(make_app):
    service = service_of(make_app, MAX_IMAGE_PIXELS=64 * 64)
    layer = io.BytesIO()
    Image.new("RGBA", (64, 32), (0, 0, 0, 0)).save(layer, format="PNG")
    service.editable([layer.getvalue()] * 2, None)  # 64x64 together: allowed
    with pytest.raises(BadImage, match="together"):
        service.editable([layer.getvalue()] * 3, None)
