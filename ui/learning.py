"""Learning from labels in the app: the "Improve with my labels" button, the status line, the background retrain
after every labelling action, and the one-time question about class subfolders.

Retraining runs in a background thread with its own collection handle, so no page ever waits for it. One trainer per
server (st.cache_resource) holds a lock per collection: the button and the background thread take the same lock, so a
collection never trains twice at once. A labelling action while a retrain runs marks it pending; the thread then
trains once more on the newest labels. What triggers a retrain is the labels version moving (every labelling action,
undo included, moves it), checked at the start of every run; pages pick the new head up on their next rerun.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import streamlit as st

from revsearch import labels, learned
from revsearch.auth import guarded
from revsearch.collection import Collection
from revsearch.workspace import CollectionInfo
from ui import access, state
from ui.access import Permission

log = logging.getLogger("revsearch.app")
DECLINED = "app_folder_labels_declined"  # collection meta: the person said No to the class-subfolder question
FOLDERS_IN_BACKGROUND = 100_000  # past this many images the class folders are counted in a background thread


@dataclass
class Trainer:
    """Per collection directory: its training lock, the running thread, a pending rerun, the last error."""

    guard: threading.Lock = field(default_factory=threading.Lock)
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    threads: dict[str, threading.Thread] = field(default_factory=dict)
    pending: set[str] = field(default_factory=set)
    errors: dict[str, str] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)  # labels version last handled per collection

    def lock(self, directory: str) -> threading.Lock:
        with self.guard:
            return self.locks.setdefault(directory, threading.Lock())

    def running(self, directory: str) -> bool:
        with self.guard:
            thread = self.threads.get(directory)
            return thread is not None and thread.is_alive()

    def start(self, directory: str) -> None:
        """Retrain in the background; if one is running, once more after it (on the labels of that moment)."""
        with self.guard:
            thread = self.threads.get(directory)
            if thread is not None and thread.is_alive():
                self.pending.add(directory)
                return
            thread = threading.Thread(target=self._loop, args=(directory,), name=f"retrain {directory}", daemon=True)
            self.threads[directory] = thread
        thread.start()

    def _loop(self, directory: str) -> None:
        while True:
            try:
                with self.lock(directory), Collection.open(directory) as coll:
                    learned.learn(coll)
                self.errors.pop(directory, None)
            except Exception as exc:  # noqa: BLE001 - a background failure is a quiet note, never a crash
                log.exception("retraining %s failed", directory)
                self.errors[directory] = f"{type(exc).__name__}: {exc}"
            with self.guard:
                if directory not in self.pending:
                    self.threads.pop(directory, None)
                    return
                self.pending.discard(directory)

    def wait(self, directory: str, timeout: float | None = None) -> None:
        """Block until the collection's background retrain (and any pending rerun) is over (for tests and exit)."""
        while True:
            with self.guard:
                thread = self.threads.get(directory)
            if thread is None or not thread.is_alive():
                return
            thread.join(timeout)
            if timeout is not None:
                return


@st.cache_resource(show_spinner=False)
def trainer() -> Trainer:
    return Trainer()


def space_token(coll: Collection) -> str:
    """Changes when the learned space does (a new head, or none): part of the key of cached search results."""
    now = learned.status(coll)
    return f"{now.get('head')}:{now.get('trained_at')}"


def retrain_after_label_changes(info: CollectionInfo) -> None:
    """Start a background retrain when the labels changed since this server last looked (not on first sight,
    unless the stored head is out of date)."""
    coll = state.collection(info)
    directory = str(coll.directory)
    version = labels.version(coll)
    t = trainer()
    last = t.seen.get(directory)
    t.seen[directory] = version
    if last == version:
        return
    if last is None:
        current = learned.status(coll)
        if not current.get("head") or current.get("current"):
            return
    t.start(directory)


def status_line(info: CollectionInfo) -> None:
    """One quiet line (sidebar): whether search uses the labels, and how much better it is for them."""
    coll = state.collection(info)
    directory = str(coll.directory)
    t = trainer()
    now = learned.status(coll)
    if t.running(directory):
        st.caption(":material/model_training: Labels changed since: retraining in the background…")
    elif now.get("head") and now.get("current"):
        gain = now.get("gain")
        st.caption(":material/auto_awesome: Search uses your labels"
                   + (f" ({gain:.0%} better on held-out images)" if gain is not None else ""))
    elif now.get("head"):
        st.caption(":material/model_training: Labels changed since the last training: retraining…")
    elif now.get("message") and now.get("current"):
        st.caption(f":material/info: Search does not use your labels yet: {now['message']}")
    if directory in t.errors:
        st.caption(f":material/warning: The last retraining did not work ({t.errors[directory]}); the details are "
                   "in the server log. Search keeps the previous space.")


def improve_button(info: CollectionInfo, key: str, where=None) -> None:
    """"Improve with my labels": train now (waiting for a background retrain first), then say what it changed.

    The button goes into `where` (e.g. a toolbar column) when given; the message follows at full width."""
    coll = state.collection(info)
    message_key = f"learn_message_{info.slug}"
    if not access.can(Permission.LABEL):
        return
    if (where or st).button("Improve with my labels", key=key, icon=":material/auto_awesome:",
                            help="trains on your labels and checks on held-out labelled images whether search "
                                 "gets better; search uses it only if it does"):
        with state.guard("Learning from your labels"), st.spinner("Learning from your labels…"):
            with trainer().lock(str(coll.directory)):
                result = guarded.learn(access.actor(), coll)
            version = labels.version(coll)
            trainer().seen[str(coll.directory)] = version
            st.session_state[message_key] = (version, result.used, result.message)
    shown = st.session_state.get(message_key)
    if shown and shown[0] == labels.version(coll):  # a message about older labels would mislead
        _, used, message = shown
        text = message[:1].upper() + message[1:]
        if used:
            st.success(text, icon=":material/auto_awesome:")
        else:
            st.info(text, icon=":material/info:")


def folder_question(info: CollectionInfo) -> None:
    """Once per collection: its images sit in class subfolders and it has no labels yet — use the folder names?"""
    coll = state.collection(info)
    if not access.can(Permission.LABEL) or coll.meta(DECLINED) or labels.label_counts(coll):
        return
    if info.counts.get("indexed", 0) > FOLDERS_IN_BACKGROUND:
        classes = folder_scans().result(str(coll.directory), coll.generation)
    else:
        classes = _folder_classes(str(coll.directory), coll.generation, info)
    if not classes:
        return
    names = list(classes)
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    with st.container(border=True, key="folder_question"):
        st.markdown(f":material/folder_open: This folder has **{len(names)} class subfolders** ({shown}): use "
                    "them as labels?")
        st.caption(" · ".join(f"{name} ({n})" for name, n in list(classes.items())[:12]))
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, use them", key="folder_labels_yes", type="primary", icon=":material/label:"):
            with state.guard("Importing the folder labels"):
                report = guarded.import_folders(access.actor(), coll)
                state.flash(f"Labelled {report.labelled} images by their class subfolder")
                st.rerun()
        if no.button("No", key="folder_labels_no"):
            guarded.decline(access.actor(), coll, DECLINED)
            st.rerun()


@dataclass
class FolderScans:
    """Class subfolders of large collections, counted in a background thread (seconds at a million images) so no
    page waits for them: the question is asked on a page view after the count is done."""

    guard: threading.Lock = field(default_factory=threading.Lock)
    results: dict[tuple[str, int], dict[str, int]] = field(default_factory=dict)
    threads: dict[tuple[str, int], threading.Thread] = field(default_factory=dict)

    def result(self, directory: str, generation: int) -> dict[str, int] | None:
        """The class folders of the collection at this generation; None while they are counted (started here)."""
        key = (directory, generation)
        with self.guard:
            if key in self.results:
                return self.results[key]
            if key in self.threads:
                return None
            thread = threading.Thread(target=self._count, args=key, name=f"folder classes {directory}", daemon=True)
            self.threads[key] = thread
        thread.start()
        return None

    def _count(self, directory: str, generation: int) -> None:
        try:
            with Collection.open(directory) as coll:
                found = labels.folder_classes(coll)
        except Exception:  # noqa: BLE001 - no question is better than a crash; the log says why
            log.exception("counting the class folders of %s failed", directory)
            found = {}
        with self.guard:
            self.results[(directory, generation)] = found
            self.threads.pop((directory, generation), None)


@st.cache_resource(show_spinner=False)
def folder_scans() -> FolderScans:
    return FolderScans()


@st.cache_data(show_spinner=False, max_entries=16)
def _folder_classes(directory: str, generation: int, _info: CollectionInfo) -> dict[str, int]:
    return labels.folder_classes(state.collection(_info))
