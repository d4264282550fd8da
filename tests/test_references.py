"""Reference thumbnails built from dataset folders, drawn name cards, and collages."""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import shutil
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import cards, reference_build, references, render
from engine.config import Settings
from engine.pipeline import Pipeline
from tests.conftest import ASTRONAUT_BOX, HOPPER_BOX, encode, run_module


def face_crop(photo: Image.Image, box: tuple[int, int, int, int], side: int) -> Image.Image:
    """A square crop around a face, as the datasets have them."""
    x1, y1, x2, y2 = box
    half = max(x2 - x1, y2 - y1) * 0.7
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return photo.crop(
        (round(cx - half), round(cy - half), round(cx + half), round(cy + half))
    ).resize((side, side))


@pytest.fixture
def dataset(tmp_path: Path, astronaut: Image.Image, hopper: Image.Image) -> Path:
    """Two people's folders of 160 px crops, and a folder of raw photos that is no dataset."""
    root = tmp_path / "data" / "crops"
    for name, photo, box in (
        ("Eileen_Collins", astronaut, ASTRONAUT_BOX),
        ("Grace_Hopper", hopper, HOPPER_BOX),
    ):
        (root / name).mkdir(parents=True)
        for number in range(1, 4):
            tile = face_crop(photo, box, 160)
            if number == 2:  # one odd photo out: the typical one is chosen
                tile = tile.transpose(Image.Transpose.ROTATE_90)
            tile.save(root / name / f"{name}_{number:04d}.jpg", quality=92)
    (root / "Grace_Hopper" / "notes.txt").write_text("not a photo")
    raw = tmp_path / "data" / "raw" / "Someone"
    raw.mkdir(parents=True)
    hopper.save(raw / "1.jpg")  # 512x600: a raw photo, left to training
    return tmp_path / "data"


def test_a_reference_is_built_per_person_from_a_folder(dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "references"
    built = reference_build.run(out, [dataset])
    assert built.people == 2 and built.sources == (str(dataset / "crops"),)
    assert sorted(p.name for p in out.glob("*.jpg")) == ["Eileen_Collins.jpg", "Grace_Hopper.jpg"]
    index = json.loads((out / "index.json").read_text())
    assert index["people"] == 2
    with Image.open(out / "Grace_Hopper.jpg") as thumbnail:
        assert thumbnail.format == "JPEG" and thumbnail.size == (references.SIDE, references.SIDE)
        chosen = np.asarray(thumbnail.convert("L"), dtype=float)
    # Not the rotated photo: the thumbnail is one of the two upright ones.
    upright = np.asarray(
        Image.open(dataset / "crops" / "Grace_Hopper" / "Grace_Hopper_0001.jpg").convert("L"), float
    )
    rotated = np.asarray(
        Image.open(dataset / "crops" / "Grace_Hopper" / "Grace_Hopper_0002.jpg").convert("L"), float
    )
    assert np.abs(chosen - upright).mean() < 4 < np.abs(chosen - rotated).mean()


def assert_is_lfw_crop(thumbnail_path: Path, photo: Path) -> None:
    """The thumbnail is the face part of the LFW photo, as reference_build crops it."""
    with Image.open(thumbnail_path) as thumbnail, Image.open(photo) as original:
        expected = original.crop(reference_build.LFW_BOX).resize(thumbnail.size)
        assert np.abs(np.asarray(thumbnail, float) - np.asarray(expected, float)).mean() < 4


def test_an_lfw_photo_is_cropped_to_its_face(tmp_path: Path, hopper: Image.Image) -> None:
    folder = tmp_path / "lfw" / "Grace_Hopper"
    folder.mkdir(parents=True)
    # As LFW's deep-funneled photos: 250 px, the face in the middle.
    face_crop(hopper, HOPPER_BOX, 250).save(folder / "Grace_Hopper_0001.jpg")
    reference_build.run(tmp_path / "out", [tmp_path / "lfw"])
    assert_is_lfw_crop(tmp_path / "out" / "Grace_Hopper.jpg", folder / "Grace_Hopper_0001.jpg")


def lfw_photo_with_border(hopper: Image.Image, band: int) -> Image.Image:
    """An LFW-like 250 px photo whose top left is LFW's flat black border: a wedge
    ``band`` px deep along the top, as where a rotated photo ended."""
    photo = face_crop(hopper, HOPPER_BOX, 250)
    ImageDraw.Draw(photo).polygon([(0, 0), (250, 0), (0, band)], fill=(0, 0, 0))
    return photo


def black_corner(path: Path) -> bool:
    """Whether the thumbnail's top edge starts flat black, as the wedge makes it."""
    with Image.open(path) as thumbnail:
        top = np.asarray(thumbnail.convert("L"), float)[:2].mean(axis=0)
    return bool((top[: len(top) // 6] < 6).all())


def test_lfws_black_borders_are_zoomed_out_of_a_thumbnail_or_passed_over(
    tmp_path: Path, hopper: Image.Image, astronaut: Image.Image
) -> None:
    """About 8% of LFW's people had a thumbnail with a black wedge from the border
    of the photo it was cut from; the build zooms in or takes another photo."""
    # One photo, a thin wedge: zoomed in about the face until it is gone.
    zoom = tmp_path / "lfw" / "Grace_Hopper"
    zoom.mkdir(parents=True)
    lfw_photo_with_border(hopper, 60).save(zoom / "Grace_Hopper_0001.jpg", quality=95)
    # The more typical of two photos has a deep one: the other photo is taken.
    other = tmp_path / "lfw" / "Eileen_Collins"
    other.mkdir()
    for number in (1, 2):
        lfw_photo_with_border(hopper, 250).save(other / f"Eileen_Collins_000{number}.jpg")
    face_crop(astronaut, ASTRONAUT_BOX, 250).save(other / "Eileen_Collins_0003.jpg")
    border = tmp_path / "border.jpg"
    lfw_photo_with_border(hopper, 60).crop(reference_build.LFW_BOX).save(border, quality=95)
    assert black_corner(border)  # the crop alone would show it
    reference_build.run(tmp_path / "out", [tmp_path / "lfw"])
    assert not black_corner(tmp_path / "out" / "Grace_Hopper.jpg")
    assert not black_corner(tmp_path / "out" / "Eileen_Collins.jpg")
    assert_is_lfw_crop(tmp_path / "out" / "Eileen_Collins.jpg", other / "Eileen_Collins_0003.jpg")


def test_nothing_reachable_writes_an_empty_index_and_succeeds(tmp_path: Path) -> None:
    # A port nobody listens on: the download fails at once, quietly.
    result = run_module(
        "engine.reference_build",
        "--data",
        tmp_path / "absent",
        "--url",
        "http://127.0.0.1:9/refs.zip",
        "--out",
        tmp_path / "out",
        "--quiet",
    )
    assert result.returncode == 0, result.stderr
    assert "no data reachable" in result.stdout and "name cards" in result.stdout
    assert json.loads((tmp_path / "out" / "index.json").read_text())["people"] == 0


def test_the_setting_names_the_first_folder_searched(tmp_path: Path) -> None:
    roots = reference_build.default_roots(Settings(reference_data=tmp_path))
    assert roots[0] == tmp_path and reference_build.SHARED in roots
    assert Path(__file__).resolve().parents[2] / "shared" / "datasets" == reference_build.SHARED


def test_a_zip_is_downloaded_when_no_folder_is_at_hand(dataset: Path, tmp_path: Path) -> None:
    archive = tmp_path / "serve" / "people.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as out:
        for path in sorted((dataset / "crops").rglob("*.jpg")):
            out.write(path, f"people/{path.parent.name}/{path.name}")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(archive.parent), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/people.zip"
        built = reference_build.run(tmp_path / "out", [tmp_path / "absent"], url, tmp_path / "dl")
    finally:
        server.shutdown()
    assert built.people == 2 and built.sources == (url,)
    assert (tmp_path / "dl" / "people.zip").is_file()  # kept: a second build reads it offline
    assert (tmp_path / "out" / "Eileen_Collins.jpg").is_file()


# --- cards ----------------------------------------------------------------------------


def ink(image: Image.Image) -> np.ndarray:
    """Where the picture is near white: the card's lettering."""
    return np.asarray(image.convert("RGB")).min(axis=2) > 200


@pytest.mark.parametrize(
    ("name", "field"), [("José María Aznar", "politics"), ("Beyoncé", "music")]
)
def test_a_card_writes_the_name_with_its_accents(name: str, field: str) -> None:
    picture = cards.card(name, field)
    assert picture.size == (256, 256)
    pixels = np.asarray(picture, dtype=float)
    assert pixels.std() > 20  # not a blank square
    # The name, drawn alone where the card writes it, is what the card shows there.
    expected = Image.new("L", picture.size, 0)
    draw = ImageDraw.Draw(expected)
    layout = cards.name_layout(name, field)
    for line, x, y, points in layout:
        draw.text((x, y), line, fill=255, font=cards.font(points, bold=True), anchor="mm")
    assert " ".join(line for line, *_ in layout) == name
    band = np.zeros(picture.size[::-1], bool)
    top, bottom = layout[0][2] - layout[0][3], layout[-1][2] + layout[-1][3]
    band[top:bottom] = True
    drawn, shown = np.asarray(expected), ink(picture)
    letters = drawn > 200  # the letters' strokes, leaving out their soft edges
    assert letters.sum() > 300
    assert (shown & letters).sum() >= 0.98 * letters.sum()  # every letter is there
    assert (shown & band & (drawn < 30)).sum() <= 0.02 * letters.sum()  # and nothing else
    # Accented letters are real glyphs, not the empty box of a font without them.
    face = cards.font(26, bold=True)
    missing = np.asarray(face.getmask("\uffff"))
    for letter in {c for c in name if not c.isascii()}:
        glyph = np.asarray(face.getmask(letter))
        plain = np.asarray(face.getmask({"é": "e", "í": "i", "á": "a"}[letter]))
        assert glyph.shape != missing.shape or (glyph != missing).any()
        assert glyph.shape != plain.shape or (glyph != plain).any()  # its accent is drawn


def test_a_card_without_field_and_the_initials() -> None:
    assert cards.initials("José María Aznar") == "JA"
    assert cards.initials("Beyoncé") == "B"
    assert cards.initials("Queen Elizabeth II") == "QE"
    plain, spanish = cards.card("Grace Hopper"), cards.card("Grace Hopper", "science", lang="es")
    assert np.asarray(plain, float).std() > 20
    assert ink(spanish).sum() > ink(plain).sum()  # the field's label, CIENCIA


def test_the_picture_is_the_thumbnail_else_a_card(tmp_path: Path, hopper: Image.Image) -> None:
    folder = tmp_path / "refs"
    folder.mkdir()
    face_crop(hopper, HOPPER_BOX, 160).save(folder / references.file_name("Grace_Hopper"))
    (folder / references.file_name("Broken_Person")).write_bytes(b"\xff\xd8 not a jpeg")
    photo = references.picture("Grace_Hopper", "Grace Hopper", "science", [None, folder])
    card = references.picture("Jose_Maria_Aznar", "José María Aznar", "politics", [folder])
    broken = references.picture("Broken_Person", "Broken Person", "", [folder])
    assert photo.size == card.size == broken.size == (256, 256)
    expected = np.asarray(cards.card("José María Aznar", "politics"), float)
    assert np.abs(np.asarray(card, float) - expected).mean() < 1
    assert np.abs(np.asarray(photo, float) - expected).mean() > 20
    assert (
        references.reference_jpeg("Grace_Hopper", "Grace Hopper", "", [folder])
        == (folder / "Grace_Hopper.jpg").read_bytes()
    )
    drawn = references.reference_jpeg("Beyoncé", "Beyoncé", "music", [folder])
    assert Image.open(io.BytesIO(drawn)).format == "JPEG"
    assert references.file_name("José_María/../x") == "José_María_.._x.jpg"


# --- collages ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_faces(astronaut: Image.Image, hopper: Image.Image) -> bytes:
    """The astronaut and Grace Hopper side by side in one photo."""
    hopper = hopper.resize((round(hopper.width * 512 / hopper.height), 512))
    canvas = Image.new("RGB", (astronaut.width + hopper.width, 512), "white")
    canvas.paste(astronaut, (0, 0))
    canvas.paste(hopper, (astronaut.width, 0))
    return encode(canvas, "JPEG", quality=92)


def cells(collage: Image.Image, rows: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(face, celebrity) tiles of a one-column collage, as render.collage lays them out."""
    pad, tile, gap, caption = 12, 256, 6, 40
    cell_h = tile + caption + 2 * pad
    assert collage.size == (2 * tile + gap + 4 * pad, rows * (cell_h + pad) + pad)
    pixels = np.asarray(collage, dtype=float)
    out = []
    for row in range(rows):
        y, x = pad + row * (cell_h + pad) + pad, 2 * pad
        out.append(
            (
                pixels[y : y + tile, x : x + tile],
                pixels[y : y + tile, x + tile + gap : x + 2 * tile + gap],
            )
        )
    return out


def test_a_collage_shows_each_face_beside_its_celebrity(
    tmp_path: Path, pipeline: Pipeline, toy_model: Path, two_faces: bytes
) -> None:
    # The toy model without its gallery, and no thumbnails: every celebrity is a card.
    bare = tmp_path / "bare"
    bare.mkdir()
    for suffix in (".npz", ".json"):
        shutil.copy(toy_model.with_suffix(suffix), bare / f"toy{suffix}")
    settings = dataclasses.replace(
        pipeline.settings, model=bare / "toy", references=tmp_path / "none"
    )
    carded = Pipeline(settings)
    result = carded.lookalike_many([carded.decode(two_faces)], 3)[0]
    result = carded.render(carded.decode(two_faces), result)
    assert len(result.faces) == 2 and result.collage is not None and result.annotated is not None
    collage = Image.open(io.BytesIO(result.collage))
    for (face, celebrity), found in zip(cells(collage, 2), result.faces, strict=True):
        assert face.std() > 20 and celebrity.std() > 20  # neither column is blank
        best = found.predictions[0].name
        expected = np.asarray(cards.card(best, found.predictions[0].field), float)
        assert np.abs(celebrity - expected).mean() < 6  # that celebrity's card
    names = {f.predictions[0].name for f in result.faces}
    assert names == {"Eileen Collins", "Grace Hopper"}

    # With the model's own gallery, the same rows show the reference photos instead.
    with_photos = Pipeline(dataclasses.replace(settings, model=toy_model))
    photo = with_photos.decode(two_faces)
    shown = with_photos.render(photo, with_photos.lookalike_many([photo], 3)[0])
    for (_, celebrity), found in zip(
        cells(Image.open(io.BytesIO(shown.collage)), 2), shown.faces, strict=True
    ):
        best = found.predictions[0]
        card = np.asarray(cards.card(best.name, best.field), float)
        assert celebrity.std() > 20 and np.abs(celebrity - card).mean() > 20


def test_a_crowd_collage_keeps_a_photo_shape() -> None:
    tile = Image.new("RGB", (256, 256), (120, 90, 60))
    rows = [(tile, cards.card(f"Person {n}"), f"{n}. Person {n}") for n in range(40)]
    width, height = render.collage(rows).size
    assert width + height <= 10_000 and max(width, height) <= 20 * min(width, height)


@pytest.mark.asyncio(loop_scope="module")
async def test_the_engine_gives_the_reference_photo_else_a_card(
    toy_engine, toy_model: Path
) -> None:
    # The toy model's own gallery has Grace Hopper's face, as training writes it.
    photo = await toy_engine.reference_photo("Grace Hopper")
    assert photo == (toy_model.with_name("toy.gallery") / "Grace_Hopper.jpg").read_bytes()
    drawn = await toy_engine.reference_photo("Beyoncé")  # known to no model: a card
    assert drawn is not None
    card = np.asarray(Image.open(io.BytesIO(drawn)), dtype=float)
    assert np.abs(card - np.asarray(cards.card("Beyoncé"), dtype=float)).mean() < 6
