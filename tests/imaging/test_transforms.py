"""Exact sizes and transparent backgrounds, as pure functions over Pillow images."""

from __future__ import annotations

from PIL import Image, ImageDraw

from imaging import fit, make_transparent


def ring_on_white(side: int = 400) -> Image.Image:
    """White all round, a dark ring, and white again inside the ring."""
    picture = Image.new("RGB", (side, side), (255, 255, 255))
    draw = ImageDraw.Draw(picture)
    draw.ellipse((side * 0.2, side * 0.2, side * 0.8, side * 0.8), fill=(30, 30, 60))
    draw.ellipse((side * 0.35, side * 0.35, side * 0.65, side * 0.65), fill=(255, 255, 255))
    return picture


def test_the_white_around_the_subject_becomes_transparent():
    alpha = make_transparent(ring_on_white()).getchannel("A")
    for corner in ((0, 0), (399, 0), (0, 399), (399, 399), (200, 20)):
        assert alpha.getpixel(corner) == 0


def test_white_enclosed_by_the_subject_stays_opaque():
    alpha = make_transparent(ring_on_white()).getchannel("A")
    assert alpha.getpixel((200, 200)) == 255  # the hole in the ring
    assert alpha.getpixel((200, 110)) == 255  # the ring itself


def test_the_cut_edge_is_smooth_not_a_jagged_threshold():
    picture = ring_on_white().resize((200, 200), Image.Resampling.LANCZOS)  # anti-aliased rim
    alpha = make_transparent(picture).getchannel("A")
    row = [alpha.getpixel((x, 100)) for x in range(0, 60)]
    assert any(0 < value < 255 for value in row)
    assert row[0] == 0 and row[-1] == 255


def test_a_thin_dark_outline_still_closes_a_shape():
    picture = Image.new("RGB", (1000, 1000), (255, 255, 255))
    ImageDraw.Draw(picture).ellipse((200, 200, 800, 800), outline=(0, 0, 0), width=2)
    alpha = make_transparent(picture).getchannel("A")
    assert alpha.getpixel((500, 500)) == 255 and alpha.getpixel((50, 50)) == 0


def test_fit_crops_to_the_aspect_then_resizes_exactly():
    wide = Image.new("RGB", (400, 100), (255, 0, 0))
    ImageDraw.Draw(wide).rectangle((150, 0, 249, 99), fill=(0, 0, 255))  # the centre
    square = fit(wide, (50, 50))
    assert square.size == (50, 50)
    assert square.getpixel((25, 25)) == (0, 0, 255)


def test_fit_keeps_an_image_already_the_right_size():
    image = Image.new("RGB", (64, 48))
    assert fit(image, (64, 48)) is image


def test_dilate_is_maxfilter_pixel_for_pixel():
    import random

    from PIL import ImageFilter

    from imaging.transforms import dilate

    chosen = random.Random(7)
    mask = Image.new("L", (97, 61), 0)
    for _ in range(300):
        mask.putpixel((chosen.randrange(97), chosen.randrange(61)), 255)
    for radius in (1, 2):
        expected = mask.filter(ImageFilter.MaxFilter(2 * radius + 1))
        assert dilate(mask, radius).tobytes() == expected.tobytes()
