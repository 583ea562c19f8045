"""Learning from labels in the app: the "Improve with my labels" button, the status line, the background retrain
after every labelling action, and the one-time question about class subfolders.

Retraining is a "learn" job of the server's job runner (ui/jobs.py), so no page ever waits for it and every tab sees
it. A labelling action while one runs queues one more run after it, on the newest labels. What triggers a retrain is
the labels version moving (every labelling action, undo included, moves it), checked at the start of every run; the
job also computes the label suggestions, so the pages read them at once; pages pick the new head up when it ends.
"""

from __future__ import annotations

import threading

import streamlit as st

from revsearch import labels, learned
from revsearch.auth import guarded
from revsearch.collection import Collection
from revsearch.workspace import CollectionInfo
from ui import access, jobs, state
from ui.access import Permission

DECLINED = "app_folder_labels_declined"  # collection meta: the person said No to the class-subfolder question
FOLDERS_IN_BACKGROUND = 100_000  # past this many images the class folders are counted in a background job
RETRAIN_DELAY = 1.0  # seconds a retrain waits after a labelling click: the page redraws first, quick clicks share it


@st.cache_resource(show_spinner=False)
def _seen() -> tuple[threading.Lock, dict[str, str]]:
    """The labels version this server last handled, per collection directory."""
    return threading.Lock(), {}


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
    lock, seen = _seen()
    with lock:
        last = seen.get(directory)
        seen[directory] = version
    if last == version:
        return
    if last is None:
        current = learned.status(coll)
        if not current.get("head") or current.get("current"):
            return
    jobs.start(info, "learn", again=True, delay=RETRAIN_DELAY)


def status_line(info: CollectionInfo) -> None:
    """One quiet line (sidebar, live): whether search uses the labels, and how much better it is for them."""
    coll = state.collection(info)
    trained = f"{coll.meta(learned.META_HEAD)}|{coll.meta(learned.META_RESULT)}"  # moves with every training
    now = _status(str(coll.directory), labels.version(coll), trained, info)
    if jobs.running(info, "learn"):
        st.caption(":material/model_training: Labels changed: learning from them in the background…")
    elif now.get("head") and now.get("current"):
        gain = now.get("gain")
        st.caption(":material/auto_awesome: Search uses your labels"
                   + (f" ({gain:.0%} better on held-out images)" if gain is not None else ""))
    elif now.get("head"):
        st.caption(":material/model_training: Labels changed since the last training: retraining…")
    elif now.get("message") and now.get("current"):
        st.caption(f":material/info: Search does not use your labels yet: {now['message']}")
    last = jobs.latest(info, "learn")
    if last is not None and last.state == "failed":
        st.caption(f":material/warning: The last retraining did not work ({last.error}); the details are in the "
                   "server log. Search keeps the previous space.")


@st.cache_data(show_spinner=False, max_entries=32)
def _status(directory: str, labels_version: str, trained: str, _info: CollectionInfo) -> dict:
    """learned.status per (labels, head): the live sidebar asks every few seconds, and it reads every label."""
    return learned.status(state.collection(_info))


def improve_button(info: CollectionInfo, key: str, where=None) -> None:
    """"Improve with my labels": train now, in the background (after a retrain already running), then say what it
    changed.

    The button goes into `where` (e.g. a toolbar column) when given; the progress and the message follow at full
    width."""
    coll = state.collection(info)
    message_key = f"learn_message_{info.slug}"
    if not access.can(Permission.LABEL):
        return
    if (where or st).button("Improve with my labels", key=key, icon=":material/auto_awesome:",
                            help="trains on your labels and checks on held-out labelled images whether search "
                                 "gets better; search uses it only if it does"):
        with state.guard("Learning from your labels"):
            jobs.start(info, "learn", {"force": True}, again=True)
            st.session_state[message_key] = labels.version(coll)
    wanted = st.session_state.get(message_key)
    if wanted is None or wanted != labels.version(coll):  # a message about older labels would mislead
        return
    if jobs.running(info, "learn"):
        jobs.progress(info, "learn")
        return
    last = jobs.latest(info, "learn")
    if jobs.failed(last) or last is None or not last.result or "message" not in last.result:
        return
    if last.result.get("labels_version") == wanted:
        message = last.result["message"]
        text = message[:1].upper() + message[1:]
        if last.result.get("used"):
            st.success(text, icon=":material/auto_awesome:")
        else:
            st.info(text, icon=":material/info:")


def folder_question(info: CollectionInfo) -> None:
    """Once per collection: its images sit in class subfolders and it has no labels yet — use the folder names?"""
    coll = state.collection(info)
    if not access.can(Permission.LABEL) or coll.meta(DECLINED) or labels.label_counts(coll):
        return
    if info.counts.get("indexed", 0) > FOLDERS_IN_BACKGROUND:
        classes = _counted_folders(info, coll.generation)
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


def _counted_folders(info: CollectionInfo, generation: int) -> dict[str, int] | None:
    """The class folders of a large collection, counted by a background job (seconds at a million images) so no
    page waits for them: None while they are counted (the job is started here when needed)."""
    last = jobs.latest(info, "folders")
    if last is not None and last.running:
        return None
    if last is None or not last.result or last.result.get("generation") != generation:
        if last is None or last.state != "failed":  # a failed count asks nothing (the log says why)
            jobs.start(info, "folders")
            return None
        return {}
    return last.result["classes"]


@st.cache_data(show_spinner=False, max_entries=16)
def _folder_classes(directory: str, generation: int, _info: CollectionInfo) -> dict[str, int]:
    return labels.folder_classes(state.collection(_info))
