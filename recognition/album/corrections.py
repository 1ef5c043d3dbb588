"""What a person told us about the album's people: names, merges, links to enrolled identities, and
faces taken out of a group, splits, hidden people. Kept sealed with the store key in
`<data dir>/albums/people.sealed` (what it holds: corrections_file.py).

Grouping is recomputed whenever the albums change, so corrections are not kept as group ids but as
marks on faces: "this face is person P", "this face is not person P". A face is marked by its album
folder, its photo and its box relative to the photo, so a mark finds its face again after a re-index,
even with another detector (marks.py: the box that overlaps it most). Applying them to a fresh grouping:
- a group is the person most of its marked faces are (a group nobody marked keeps its own id);
- a face marked as another person goes to that person, even from another group or from no group;
- a face taken out of a person does not go back to it;
- groups that are the same person are one (that is a merge);
- a split is faces marked as a new person and taken out of the old one;
- a hidden person is still grouped and corrected; the flag on its label only says it is not shown.
Marks of photos no longer in any album are forgotten once indexing has seen the whole album.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from recognition.album.corrections_file import CorrectionsState, Label, Mark, from_rows, to_rows
from recognition.album.marks import landing, mark_on, same_face
from recognition.album.people import FaceRef, Person
from recognition.store.atomic import write_atomically
from recognition.store.interface import StoreRejected
from recognition.store.records import restricted_loads
from recognition.store.vault import StoreKey, StoreKeyError, seal, unseal

log = logging.getLogger(__name__)

PEOPLE_MAGIC = b"FACEPPL\x01"
MAX_NAME = 100


class StaleListing(ValueError):
    """A correction names a face the index no longer has (the photo changed since it was listed)."""


class PeopleCorrections:
    """Thread-safe; each change is on disk (atomically) when its method returns.

    albums maps an album's name (as the API shows it) to its folder, and boxes_of gives the boxes of a
    photo's faces now (relative, (n, 4)), or None when the photo is not indexed."""

    def __init__(self, path: Path, key: StoreKey, albums: dict[str, Path],
                 boxes_of: Callable[[str, str], Optional[np.ndarray]]) -> None:
        self.path = Path(path)
        self._key = key
        self._folders = {name: str(Path(folder).resolve()) for name, folder in albums.items()}
        self._names = {folder: name for name, folder in self._folders.items()}
        self._boxes_of = boxes_of
        self._lock = threading.Lock()
        self.labels: dict[str, Label] = {}
        self.assigned: dict[Mark, str] = {}  # face -> the person it is
        self.taken_out: set[tuple[Mark, str]] = set()  # (face, a person it is not)
        self._load()

    # --- reading -------------------------------------------------------------------------------

    def apply(self, people: Sequence[Person], alone: Sequence[FaceRef]) -> list[Person]:
        """The grouping with every correction applied, largest first; a person someone named or
        linked carries its name and identity."""
        with self._lock:
            is_person = dict(self._locate(self.assigned.items()))
            is_not = set(self._locate(self.taken_out))
            labels = dict(self.labels)
        members: dict[str, list[FaceRef]] = {}
        taken_ids = set(labels) | {group.id for group in people}
        for group in people:
            votes = Counter(person for face in group.faces
                            if (person := is_person.get(face)) is not None and (face, person) not in is_not)
            chosen = min(votes, key=lambda person: (-votes[person], person)) if votes else None
            own = chosen or (group.id if group.id not in labels else _free_id(group.id, taken_ids))
            for face in group.faces:
                person = is_person.get(face, chosen)
                if person is not None and (face, person) in is_not:
                    continue  # taken out: in no group now
                members.setdefault(person or own, []).append(face)
        for face in alone:
            person = is_person.get(face)
            if person is not None and (face, person) not in is_not:
                members.setdefault(person, []).append(face)
        shown = []
        for person_id, faces in members.items():
            label = labels.get(person_id)
            if label is None and len(faces) < 2:
                continue  # what is left of an unmarked group after its faces moved away
            ordered = tuple(sorted(set(faces), key=lambda f: (f.album, f.photo, f.face)))
            shown.append(Person(person_id, ordered, name=label.name if label else None,
                                identity=label.identity if label else None, hidden=bool(label and label.hidden)))
        shown.sort(key=lambda p: (-len(p.faces), p.id))
        return shown

    # --- changes: each finds its faces' marks first (StaleListing if one is gone), then changes ------

    def label(self, person: Person, *, name=..., identity=..., hidden=...) -> Label:
        """Name the person (None: no name), link it to an enrolled identity (None: unlink) and/or hide it
        (False: show it again); its faces are marked as it, so the next grouping keeps them together
        under this id (and hidden)."""
        if name is not ... and name is not None:
            name = name.strip()
            if not name or len(name) > MAX_NAME:
                raise ValueError(f"a name must be 1 to {MAX_NAME} characters")
        if hidden is not ... and not isinstance(hidden, bool):
            raise ValueError("hidden is true or false")
        marks = self._marks_of(person.faces)
        with self._lock:
            label = self.labels.get(person.id, Label())
            changes: dict = {k: v for k, v in (("name", name), ("identity", identity), ("hidden", hidden))
                             if v is not ...}
            label = replace(label, **changes)
            self.labels[person.id] = label
            self._mark(marks, person.id)
            self._save()
            return label

    def merge(self, source: Person, target: Person) -> Label:
        """source is target: every face of both is marked as target, which keeps its name and link
        (taking source's where it has none); source's id is gone. A face taken out of either stays out."""
        if source.id == target.id:
            raise ValueError("a person cannot be merged into itself")
        marks = self._marks_of(source.faces + target.faces)
        with self._lock:
            kept, gone = self.labels.get(target.id, Label()), self.labels.pop(source.id, Label())
            self.labels[target.id] = Label(kept.name or gone.name, kept.identity or gone.identity, kept.hidden)
            self.taken_out = {(mark, target.id if person == source.id else person) for mark, person in self.taken_out}
            for mark, person in list(self.assigned.items()):
                if person == source.id:
                    del self.assigned[mark]
                    if not self._is_out(mark, target.id):
                        self.assigned[mark] = target.id
            self._mark(marks, target.id)
            self._save()
            return self.labels[target.id]

    def take_out(self, person: Person, face: FaceRef) -> None:
        """The face is not this person: it leaves the group for good (the rest are marked as it)."""
        if face not in person.faces:
            raise ValueError("that face is not in this group")
        out = self._marks_of([face])[0]
        rest = self._marks_of([f for f in person.faces if f != face])
        with self._lock:
            self.labels.setdefault(person.id, Label())
            for mark in [m for m, pid in self.assigned.items() if pid == person.id and same_face(m, out)]:
                del self.assigned[mark]  # every mark of it, also those made before its box moved
            self.taken_out.add((out, person.id))
            self._mark(rest, person.id)
            self._save()

    def anyone_hidden(self) -> bool:
        with self._lock:
            return any(label.hidden for label in self.labels.values())

    def split(self, person: Person, faces: Sequence[FaceRef], taken_ids: Iterable[str]) -> str:
        """These faces of the person are someone else: a new person, whose id (not one of taken_ids, the
        people's ids now) is returned. They are marked as it and taken out of the old person, so a
        grouping that puts them all together again is split again; the rest stay marked as the old one."""
        chosen = set(faces)
        if not chosen or not chosen <= set(person.faces):
            raise ValueError("a split takes some of the person's own faces")
        if chosen == set(person.faces):
            raise ValueError("a split leaves at least one face in the person")
        ordered = sorted(chosen, key=lambda f: (f.album, f.photo, f.face))
        moved = self._marks_of(ordered)
        rest = self._marks_of([f for f in person.faces if f not in chosen])
        with self._lock:
            seed = hashlib.sha256(("split:" + "|".join(f.key for f in ordered)).encode()).hexdigest()[:12]
            new_id = _free_id(seed, set(taken_ids) | set(self.labels))
            self.labels.setdefault(person.id, Label())
            self.labels[new_id] = Label()  # shown even with one face, as a person someone made
            self.taken_out.update((mark, person.id) for mark in moved)
            self._mark(moved, new_id)  # their marks as the old person make way
            self._mark(rest, person.id)
            self._save()
            return new_id

    def assign(self, person: Person, face: FaceRef) -> None:
        """This face is the person (a suggestion confirmed): marked as it, with the person's own faces so
        its id holds; an earlier "not this person" of that face is withdrawn (the newer word wins)."""
        mark = self._mark_of(face)
        marks = self._marks_of(person.faces)
        with self._lock:
            self.labels.setdefault(person.id, Label())
            self.taken_out = {(out, pid) for out, pid in self.taken_out
                              if not (pid == person.id and same_face(out, mark))}
            self._mark(marks + [mark], person.id)
            self._save()

    def reject(self, person: Person, face: FaceRef) -> None:
        """This face (in no person) is not this person: it is not suggested as it again, nor grouped
        with it. The person's faces are marked as it, so the word holds under its id."""
        if face in person.faces:
            raise ValueError("that face is in this person: take it out instead")
        out = self._mark_of(face)
        marks = self._marks_of(person.faces)
        with self._lock:
            self.labels.setdefault(person.id, Label())
            self.taken_out.add((out, person.id))
            self._mark(marks, person.id)
            self._save()

    def not_these(self) -> set[tuple[FaceRef, str]]:
        """(face, person) pairs someone said are not the same, found on the faces now."""
        with self._lock:
            taken_out = list(self.taken_out)
        return set(self._locate(taken_out))

    def forget(self, person: Person) -> None:
        """Forget what was said about this person: name, link, which faces are or are not it. The
        faces go back to the automatic grouping."""
        with self._lock:
            self.labels.pop(person.id, None)
            self.assigned = {mark: pid for mark, pid in self.assigned.items() if pid != person.id}
            self.taken_out = {(mark, pid) for mark, pid in self.taken_out if pid != person.id}
            self._save()

    def forget_identity(self, identity_hash: str) -> None:
        """An enrolled identity was deleted: no person stays linked to it."""
        with self._lock:
            linked = [pid for pid, label in self.labels.items() if label.identity == identity_hash]
            for pid in linked:
                self.labels[pid] = replace(self.labels[pid], identity=None)
            if linked:
                self._save()

    def keep_photos(self, photos: Iterable[tuple[str, str]], albums: Iterable[str]) -> None:
        """Forget the marks of photos gone from these albums (given by name, each walked whole, every
        photo of them given as (album name, photo)), and the people left with no face marked."""
        photos = {(self._folders[album], photo) for album, photo in photos}
        folders = {self._folders[album] for album in albums}
        with self._lock:
            gone = lambda mark: mark.folder in folders and (mark.folder, mark.photo) not in photos  # noqa: E731
            before = (len(self.assigned), len(self.taken_out), len(self.labels))
            self.assigned = {mark: pid for mark, pid in self.assigned.items() if not gone(mark)}
            self.taken_out = {(mark, pid) for mark, pid in self.taken_out if not gone(mark)}
            marked = set(self.assigned.values())
            self.labels = {pid: label for pid, label in self.labels.items() if pid in marked}
            if (len(self.assigned), len(self.taken_out), len(self.labels)) != before:
                self._save()

    # --- inside --------------------------------------------------------------------------------

    def _mark(self, marks: Iterable[Mark], person_id: str) -> None:
        """Mark these faces as the person: a face's older marks (its box may have moved) make way;
        a face taken out of the person stays out, even when asked from a listing made before."""
        by_photo: dict[tuple[str, str], list[Mark]] = {}
        for mark in self.assigned:
            by_photo.setdefault((mark.folder, mark.photo), []).append(mark)
        for mark in marks:
            if self._is_out(mark, person_id):
                continue
            for older in by_photo.get((mark.folder, mark.photo), []):
                if older in self.assigned and same_face(older, mark):
                    del self.assigned[older]
            self.assigned[mark] = person_id

    def _is_out(self, mark: Mark, person_id: str) -> bool:
        return any(pid == person_id and same_face(out, mark) for out, pid in self.taken_out)

    def _marks_of(self, faces: Iterable[FaceRef]) -> list[Mark]:
        return [self._mark_of(face) for face in faces]

    def _mark_of(self, face: FaceRef) -> Mark:
        boxes = self._boxes_of(face.album, face.photo)
        if boxes is None or face.face >= len(boxes):
            raise StaleListing(f"{face.album}/{face.photo} has no face {face.face} now: the album changed since it "
                               "was listed; list the people again")
        return mark_on(self._folders[face.album], face.photo, boxes[face.face])

    def _locate(self, marked: Iterable[tuple[Mark, str]]) -> list[tuple[FaceRef, str]]:
        """The faces these marks are on now, with their person; marks whose face is gone are left out."""
        found = []
        for mark, person in marked:
            album = self._names.get(mark.folder)
            if album is None:
                continue
            boxes = self._boxes_of(album, mark.photo)
            face = landing(mark, boxes) if boxes is not None else None
            if face is not None:
                found.append((FaceRef(album, mark.photo, face), person))
        return found

    def _load(self) -> None:
        if not self.path.exists():
            return
        try:
            state = restricted_loads(unseal([self._key], PEOPLE_MAGIC, self.path.read_bytes(), str(self.path)),
                                     str(self.path))
            state = from_rows(state)
            self.labels, self.assigned, self.taken_out = state.labels, state.assigned, state.taken_out
        except (ValueError, StoreKeyError, StoreRejected, KeyError, TypeError) as exc:
            aside = self.path.with_name(f"{self.path.name}.unreadable-{int(time.time())}")
            self.path.rename(aside)
            log.error("the album people's names and corrections in %s cannot be read (%s); moved to %s and "
                      "starting without them: open it with the key it was made with to get them back",
                      self.path, exc, aside)

    def _save(self) -> None:
        state = to_rows(CorrectionsState(self.labels, self.assigned, self.taken_out))
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomically(self.path, seal(self._key, PEOPLE_MAGIC, pickle.dumps(state, protocol=5)))


def corrections_path(data_dir: Path) -> Path:
    return Path(data_dir) / "albums" / "people.sealed"


def forget_identity(data_dir: Path, key: StoreKey, identity_hash: str) -> None:
    """Unlink a deleted identity from the album people of a data dir (for the command line)."""
    if corrections_path(data_dir).exists():
        PeopleCorrections(corrections_path(data_dir), key, {}, lambda album, photo: None).forget_identity(identity_hash)


def _free_id(person_id: str, taken: set[str]) -> str:
    """An id for an unmarked group whose natural id a corrected person already holds."""
    while person_id in taken:
        person_id = hashlib.sha256(f"{person_id}+".encode()).hexdigest()[:12]
    taken.add(person_id)
    return person_id

