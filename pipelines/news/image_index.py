"""Image ids -> image files: an index of the image files under the source, by file name stem.

Both corpora name an image file after its id: MediaEval ``nepal_01`` -> ``nepal_01.jpg`` (or
``.png``), Weibo ``http://ww4.sinaimg.cn/large/7fcc7edetw1e6btq03senj20c80gawgs.jpg`` ->
``7fcc7edetw1e6btq03senj20c80gawgs.jpg``. So the index maps every image file's stem (its name
without the extension) to its paths; an id names a file when a stem equals it exactly.

Where the files live differs: MediaEval 2015 test images are in
``testset/images/TestSetImages/<Event>/``, the 2016 test images in
``testset_subtask/Mediaeval2016_TestSet_Images_subset/`` (beside ``testset/``, not in it: a
``--source`` that is a set folder also indexes its ``<set>_subtask`` sibling), the sample
corpus's in ``<set>/images/<event>/``, Weibo's in ``rumor_images/`` and ``nonrumor_images/``.

A stem found in several folders resolves to the path in the post's preferred folder (its set
folder, or Weibo's label folder), else the first path in sorted order.

Event sub-folders: an image's folder is taken as its event when the folder above it is an image
folder (a name containing "images": ``TestSetImages/Solar_eclipse/``, ``images/boston/``) and
the folder itself is not one (``Mediaeval2016_TestSet_Images_subset/``, ``rumor_images/``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from crossmodal_ray.pipelines.news.posts import relative

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def is_image_file(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


@dataclass
class ImageIndex:
    """Stem -> image paths relative to the raw root (sorted)."""

    files: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, root: Path, folders: list[Path]) -> ImageIndex:
        """Index every image file under ``folders`` (paths relative to ``root``)."""
        found: dict[str, set[str]] = {}
        for folder in folders:
            if not folder.is_dir():
                continue
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames.sort()
                for name in filenames:
                    if is_image_file(name) and not name.startswith("."):
                        rel = relative(Path(dirpath, name), root)
                        found.setdefault(os.path.splitext(name)[0], set()).add(rel)
        return cls({stem: sorted(paths) for stem, paths in sorted(found.items())})

    def __len__(self) -> int:
        return sum(len(paths) for paths in self.files.values())

    def find(self, image_id: str, prefer: str = "") -> str | None:
        """The image file of ``image_id`` (see the module docstring), or None."""
        paths = self.files.get(image_id)
        if not paths:
            return None
        if prefer:
            prefix = prefer.rstrip("/") + "/"
            preferred = [p for p in paths if p.startswith(prefix)]
            if preferred:
                return preferred[0]
        return paths[0]


def event_folder(image_path: str) -> str | None:
    """The event named by the image's folder (see the module docstring), or None."""
    parts = PurePosixPath(image_path).parts
    if len(parts) < 3:
        return None
    folder, above = parts[-2], parts[-3]
    if "images" in above.lower() and "images" not in folder.lower() and folder != "..":
        return folder
    return None
