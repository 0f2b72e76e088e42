"""The copy of a decoded picture that its hashes and local features are resized from.

pHash and dHash read 32 x 32 and 9 x 8 grey pixels, PDQ at most 512 x 512 and ORB a grey
picture 512 pixels on its longer side. Resized straight from a large picture, each of those
resizes costs in proportion to the picture's pixels (the filter spans the whole reduction):
on a generated 4000 x 3000 picture the three hashes and the features took 153 ms, most of it
resizing and grey conversion, against 44 ms to decode its file.

So a picture at least :data:`REDUCE_FROM` pixels on its longer side is first reduced once, by
the largest whole factor that leaves it at least :data:`WORK_SIDE` pixels (the mean of each
factor x factor block, Pillow's ``reduce``), and every hash and the features are resized from
that copy, twice or more the size they need. Neither side is reduced below 64 pixels (a
banner more than 16 times as wide as it is tall is reduced less, or not at all, across it).
A smaller picture is its own working copy, so its hashes and features are exactly what they
were before this step existed.

Resizes from the copy read the part of it the picture covers (a last row or column of blocks
may be partial), so keypoints map back to the picture's own pixels; a mirror image's copy is
the mirror image's own, so mirrored features are those of the mirror image, bit for bit.
Measured with bench/working_copy.py on 30 real pictures of 2,560 to 5,120 pixels (KDE's
wallpapers: photographs and renderings) and 3 generated ones: pHash, dHash and PDQ from the
copy within 0-2 bits of those from the whole picture, and verification finding the two ways'
features the same photo with 78-100% of the inliers a JPEG re-encode (quality 90) keeps.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Final

from PIL import Image, ImageOps

#: Pictures at least this many pixels on their longer side are reduced first.
REDUCE_FROM: Final = 2048
#: The reduced copy keeps at least this many pixels on its longer side (twice PDQ's and ORB's
#: 512, so their own resizes still filter over two or more of its pixels).
WORK_SIDE: Final = 1024
#: Nor is either side reduced below this many pixels (twice pHash's 32).
_LEAST: Final = 64


@dataclass(frozen=True, eq=False)
class WorkingCopy:
    """A decoded picture, reduced by a whole ``factor`` when it is large.

    Attributes:
        picture: The decoded picture (``DecodedImage.pixels``: RGB, upright).
        pixels: The copy: ``picture`` itself when ``factor`` is (1, 1).
        width: The picture's width (not the copy's).
        height: The picture's height.
        factor: How many of the picture's columns and rows a pixel of the copy averages.
    """

    picture: Image.Image
    pixels: Image.Image
    width: int
    height: int
    factor: tuple[int, int]

    @classmethod
    def of(cls, picture: Image.Image) -> WorkingCopy:
        """The working copy of a decoded picture."""
        width, height = picture.size
        most = max(width, height) // WORK_SIDE if max(width, height) >= REDUCE_FROM else 1
        # A side is never reduced below twice pHash's 32 pixels: the short side of a banner
        # 3,000 x 2 keeps its two rows (pHash and dHash stretch it to 32 and 8 rows).
        factor = (max(1, min(most, width // _LEAST)), max(1, min(most, height // _LEAST)))
        reduced = picture.reduce(factor) if factor != (1, 1) else picture
        return cls(picture=picture, pixels=reduced, width=width, height=height, factor=factor)

    @classmethod
    def whole(cls, picture: Image.Image) -> WorkingCopy:
        """The picture as its own copy, whatever its size (what provcat resized from before
        working copies, for comparing the two ways)."""
        return cls(
            picture=picture,
            pixels=picture,
            width=picture.width,
            height=picture.height,
            factor=(1, 1),
        )

    @cached_property
    def grey(self) -> Image.Image:
        """The copy in Pillow's "L" grey (shared by every grey resize of it)."""
        return self.pixels.convert("L")

    @cached_property
    def _of_mirror(self) -> WorkingCopy:
        return WorkingCopy.of(ImageOps.mirror(self.picture))

    def resized(
        self,
        size: tuple[int, int],
        resample: Image.Resampling,
        *,
        grey: bool = False,
        mirror: bool = False,
    ) -> Image.Image:
        """The picture (its grey, its left-right mirror image) resized to ``size``.

        The resize reads the part of the copy that covers the picture (a last row or column of
        blocks may be partial), so the result spans the picture's extent exactly. At
        ``factor`` (1, 1) it is ``resize(size, resample)`` of the picture (or of its grey or
        mirror image), value for value; mirrored, it is always that of the mirror image's own
        working copy, value for value.
        """
        if mirror and self.width % self.factor[0]:
            # The blocks of the mirror image start at its other edge: reduce it apart.
            return self._of_mirror.resized(size, resample, grey=grey)
        image = self.grey if grey else self.pixels
        if mirror:
            # Whole blocks: the mirrored copy is the mirror image's copy, value for value.
            image = ImageOps.mirror(image)
        box = (0.0, 0.0, self.width / self.factor[0], self.height / self.factor[1])
        return image.resize(size, resample, box=box)
