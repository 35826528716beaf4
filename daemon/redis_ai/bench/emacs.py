"""The Emacs plugin: time per key with ``redis-ai-mode`` on versus off, and event sent -> ghost
text overlay drawn.

A real ``redis-ai daemon`` (private Redis, temporary runtime folder) and a real batch Emacs
loading emacs/redis-ai.el with Debian's epc.el. The driver below runs inside Emacs and prints its
figures as one JSON line.

- per key: keys are typed through Emacs's command loop (``unread-command-events`` and
  ``recursive-edit``: key lookup, the command, pre- and post-command hooks, as for a user) into a
  Python file, in blocks of 50 that rotate between three set-ups: plugin off, ``flymake-mode``
  alone, ``redis-ai-mode`` on (which also turns on ``flymake-mode``, its diagnostics display).
  Each block's time over its keys is one sample; the difference of the medians is the cost
  added per key. ``plugin_hooks_us`` times the plugin's own pre- and post-command hooks from
  inside Emacs (twice the median call), which the machine's noise moves much less. Timers and process output run only between blocks, as they run when typing
  pauses: the debounced send is measured on its own (``event_build_send_us``).
- latency: ``redis-ai-analyze`` builds and sends an event at once (no debounce) with the time in
  ``ts``; the clock is read again when the completion's overlay has been drawn (and, for
  code_analysis, when the diagnostics have been handed to Flymake). Each event names one
  analyzer (its ``analyzers`` field), so neither waits on the other's CPU time in the daemon,
  and that analyzer's own ``elapsed_ms`` is subtracted. Samples during which Emacs collected
  garbage are counted, and the p99 is also given without them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from ._harness import DaemonProcess, PrivateRedis, machine

PLUGIN = Path(__file__).resolve().parents[3] / "emacs"
ELPA = Path("/usr/share/emacs/site-lisp/elpa")
DEPENDENCIES = ("epc", "deferred", "ctable", "concurrent")
ANALYZERS = "code_analysis,redis_ai.bench.nvim:BenchCompletion"
MARKER = "REDIS-AI-BENCH "

SAMPLE_FILE = "".join(
    f"def function_{i}(value):\n    total = value * {i}\n    return total + {i}\n\n\n"
    for i in range(40)
)

DRIVER = r"""
;;; -*- lexical-binding: t -*-
(require 'redis-ai)
(require 'python)
(require 'json)

(global-set-key [redis-ai-bench-done] #'exit-recursive-edit)

(defun redis-ai-bench--type (events)
  "Type EVENTS through the command loop; return the seconds it took."
  (setq unread-command-events
        (append (mapcar (lambda (e) (cons t e)) events) (list 'redis-ai-bench-done)))
  (let ((t0 (float-time)))
    (recursive-edit)
    (- (float-time) t0)))

(defun redis-ai-bench--wait (predicate seconds)
  "Run timers and process output until PREDICATE or SECONDS pass."
  (let ((deadline (+ (float-time) seconds)))
    (while (and (not (funcall predicate)) (< (float-time) deadline))
      (accept-process-output nil 0.001))
    (funcall predicate)))

(defun redis-ai-bench--pct (values p)
  "The P-th percentile (0-1) of VALUES."
  (let ((sorted (sort (copy-sequence values) #'<)))
    (if sorted (nth (min (1- (length sorted)) (floor (* p (length sorted)))) sorted) 0)))

(defun redis-ai-bench--keys (n)
  "N key events of ordinary typing: words, and a new line now and then."
  (let ((text "value = compute(x, y) + 1") keys)
    (dotimes (i n)
      (push (if (= (% i 40) 39) ?\r (aref text (% i (length text)))) keys))
    (nreverse keys)))

(defvar redis-ai-bench--hook-us nil
  "Microseconds spent in each call of the plugin's command hooks.")

(defun redis-ai-bench--time-hook (hook &rest args)
  "Call HOOK with ARGS, noting how long it took."
  (let ((t0 (float-time)))
    (prog1 (apply hook args)
      (push (* 1e6 (- (float-time) t0)) redis-ai-bench--hook-us))))

(defun redis-ai-bench--setup (setup)
  "Put the buffer in SETUP: `off', `flymake' or `on'."
  (pcase setup
    ('off (redis-ai-mode -1) (flymake-mode -1))
    ('flymake (redis-ai-mode -1) (flymake-mode 1))
    ('on (flymake-mode -1) (redis-ai-mode 1))))

(defun redis-ai-bench-run (file keys samples)
  "Type KEYS keys per set-up into FILE, take SAMPLES latencies; print figures."
  (find-file file)
  (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
  (remove-hook 'flymake-diagnostic-functions #'flymake-proc-legacy-flymake t)
  (goto-char (point-max))
  (redis-ai-mode 1)
  (unless (redis-ai-bench--wait (lambda () (eq redis-ai--state 'ready)) 20)
    (error "The plugin did not connect to the daemon"))
  (let ((per-key (list (list 'off) (list 'flymake) (list 'on)))
        (gcs (list (list 'off 0 0.0) (list 'flymake 0 0.0) (list 'on 0 0.0)))
        (block 50))
    (dotimes (_ (/ keys block))
      (dolist (entry per-key)
        (redis-ai-bench--setup (car entry))
        (let* ((gcs-before gcs-done)
               (gc-before gc-elapsed)
               (seconds (redis-ai-bench--type (redis-ai-bench--keys block)))
               (gc (alist-get (car entry) gcs)))
          (setcar gc (+ (car gc) (- gcs-done gcs-before)))
          (setcar (cdr gc) (+ (cadr gc) (- gc-elapsed gc-before)))
          (push (/ (* 1e6 seconds) block) (cdr entry)))
        ;; A pause in typing: the debounced send, results, Flymake run now.
        (redis-ai-bench--wait #'ignore 0.01)))
    (redis-ai-bench--setup 'on)
    ;; The plugin's hooks timed from inside, in blocks of their own: the
    ;; timing would otherwise weigh on the blocks above.
    (advice-add 'redis-ai--pre-command :around #'redis-ai-bench--time-hook)
    (advice-add 'redis-ai--post-command :around #'redis-ai-bench--time-hook)
    (dotimes (_ (/ keys block))
      (redis-ai-bench--type (redis-ai-bench--keys block))
      (redis-ai-bench--wait #'ignore 0.01))
    (advice-remove 'redis-ai--pre-command #'redis-ai-bench--time-hook)
    (advice-remove 'redis-ai--post-command #'redis-ai-bench--time-hook)
    ;; Latency, at the end of the last line of a small Python file.
    (erase-buffer)
    (insert (with-temp-buffer (insert-file-contents file) (buffer-string)))
    (goto-char (point-max))
    (forward-line -1)
    (end-of-line)
    (redis-ai-bench--wait #'ignore 0.3)
    (let (completion diagnostics to-daemon render sent comp diag (missed 0) build
                     (build-gcs 0) completion-no-gc sending)
      (add-hook 'redis-ai-event-functions (lambda (event) (setq sent event)) nil t)
      (add-hook 'redis-ai-result-functions
                (lambda (result shown)
                  (when (and sent shown)
                    (let ((now (* 1000 (float-time))))
                      (pcase (alist-get 'kind result)
                        ("completion" (setq comp (cons now result)))
                        ("diagnostics" (setq diag (cons now result)))))))
                nil t)
      (dotimes (_ samples)
        (redis-ai--clear-ghost)
        (setq sent nil comp nil diag nil)
        (let ((gcs-before gcs-done))
          (redis-ai-analyze '("bench_completion"))
          (push (- (* 1000 (float-time)) (alist-get 'ts sent)) sending)
          (let ((comp-sent sent))
          (redis-ai-bench--wait (lambda () comp) 2)
          (when (and comp (= gcs-done gcs-before))
            (push (- (car comp) (alist-get 'ts comp-sent) (alist-get 'elapsed_ms (cdr comp)))
                  completion-no-gc))
          (setq sent nil)
          (redis-ai-analyze '("code_analysis"))
          (if (not (redis-ai-bench--wait (lambda () (and comp diag)) 2))
              (setq missed (1+ missed))
            (let ((ts (alist-get 'ts comp-sent)))
              (push (- (car comp) ts (alist-get 'elapsed_ms (cdr comp))) completion)
              (push (- (car diag) (alist-get 'ts sent) (alist-get 'elapsed_ms (cdr diag)))
                    diagnostics)
              (push (- (alist-get 'received (cdr comp)) ts) to-daemon))))))
      ;; The ghost text overlay alone, from a parsed result.
      (let ((result (cdr comp)))
        (dotimes (_ 200)
          (redis-ai--clear-ghost)
          (let ((t0 (float-time)))
            (redis-ai--take-result result)
            (push (* 1e6 (- (float-time) t0)) render))))
      ;; Building and sending one debounced event (JSON and EPC framing included).
      (dotimes (_ 200)
        (redis-ai-bench--wait (lambda () (redis-ai-can-send-p)) 1)
        (setq redis-ai--pending "edit")
        (let ((t0 (float-time))
              (gcs-before gcs-done))
          (redis-ai--send-now)
          (push (* 1e6 (- (float-time) t0)) build)
          (setq build-gcs (+ build-gcs (- gcs-done gcs-before)))))
      (let* ((median (lambda (setup) (redis-ai-bench--pct (alist-get setup per-key) 0.5)))
             (figures
              `((emacs . ,emacs-version)
                (json . ,(if (fboundp 'json-serialize) "native" "json.el"))
                (keys_per_setup . ,(* block (length (alist-get 'on per-key))))
                (per_key_us_off_p50 . ,(funcall median 'off))
                (per_key_us_flymake_p50 . ,(funcall median 'flymake))
                (per_key_us_on_p50 . ,(funcall median 'on))
                (per_key_added_us_p50 . ,(- (funcall median 'on) (funcall median 'off)))
                (per_key_added_over_flymake_us_p50
                 . ,(- (funcall median 'on) (funcall median 'flymake)))
                (plugin_hooks_us_per_key_p50
                 . ,(* 2 (redis-ai-bench--pct redis-ai-bench--hook-us 0.5)))
                (plugin_hooks_us_per_key_p99
                 . ,(* 2 (redis-ai-bench--pct redis-ai-bench--hook-us 0.99)))
                (per_key_us_off_p90 . ,(redis-ai-bench--pct (alist-get 'off per-key) 0.9))
                (per_key_us_on_p90 . ,(redis-ai-bench--pct (alist-get 'on per-key) 0.9))
                (gc_per_1000_keys_off . ,(/ (* 1000.0 (car (alist-get 'off gcs))) keys))
                (gc_per_1000_keys_on . ,(/ (* 1000.0 (car (alist-get 'on gcs))) keys))
                (gc_ms_mean . ,(let ((n (apply #'+ (mapcar #'cadr gcs))))
                                 (if (> n 0)
                                     (/ (* 1000 (apply #'+ (mapcar #'caddr gcs))) n)
                                   0)))
                (gc_per_1000_events_sent . ,(/ (* 1000.0 build-gcs) (max 1 (length build))))
                (event_bytes . ,(string-bytes (car (redis-ai-text-window))))
                (event_build_send_us_p50 . ,(redis-ai-bench--pct build 0.5))
                (event_build_send_us_p99 . ,(redis-ai-bench--pct build 0.99))
                (samples . ,(length completion))
                (missed_samples . ,missed)
                (event_to_ghost_overlay_ms_p50 . ,(redis-ai-bench--pct completion 0.5))
                (event_to_ghost_overlay_ms_p99 . ,(redis-ai-bench--pct completion 0.99))
                (samples_with_a_gc . ,(- (length completion) (length completion-no-gc)))
                (without_gc_ms_p99 . ,(redis-ai-bench--pct completion-no-gc 0.99))
                (of_which_editor_to_daemon_ms_p50 . ,(redis-ai-bench--pct to-daemon 0.5))
                (of_which_editor_to_daemon_ms_p99 . ,(redis-ai-bench--pct to-daemon 0.99))
                (of_which_in_emacs_until_sent_ms_p50 . ,(redis-ai-bench--pct sending 0.5))
                (of_which_in_emacs_until_sent_ms_p99 . ,(redis-ai-bench--pct sending 0.99))
                (ghost_render_us_p50 . ,(redis-ai-bench--pct render 0.5))
                (ghost_render_us_p99 . ,(redis-ai-bench--pct render 0.99))
                (event_to_flymake_ms_p50 . ,(redis-ai-bench--pct diagnostics 0.5))
                (event_to_flymake_ms_p99 . ,(redis-ai-bench--pct diagnostics 0.99)))))
        (princ (concat "REDIS-AI-BENCH " (json-encode figures) "\n"))))
    (set-buffer-modified-p nil)))
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options: the Emacs binary, how many keys and latency samples, which plugin folder."""
    parser.add_argument("--emacs", default=shutil.which("emacs") or "emacs",
                        help="Emacs binary to measure (default: emacs on PATH)")
    parser.add_argument("--keys", type=int, default=2000, help="keys typed per set-up (default 2000)")
    parser.add_argument("--samples", type=int, default=200,
                        help="event -> overlay samples (default 200)")
    parser.add_argument("--plugin", default=str(PLUGIN), help="the plugin folder (emacs/)")
    parser.add_argument("--redis-url", help="use this Redis instead of a private one")


def _load_path(plugin: str) -> list[str]:
    args = ["-L", plugin]
    for name in DEPENDENCIES:
        found = sorted(ELPA.glob(f"{name}-*"))
        if found:
            args += ["-L", str(found[-1])]
    if len(args) < 2 + 2 * len(DEPENDENCIES):
        # Not Debian's elpa-epc: epc.el may come from package.el.
        args += ["--eval", "(package-initialize)"]
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Start a daemon, drive a batch Emacs against it, return the figures."""
    redis = PrivateRedis(args.redis_url)
    daemon = DaemonProcess(redis.url, ["--analyzers", ANALYZERS])
    try:
        sample = daemon.runtime / "bench.py"
        sample.write_text(SAMPLE_FILE)
        driver = daemon.runtime / "redis-ai-bench.el"
        driver.write_text(DRIVER)
        argv = [args.emacs, "-Q", "--batch", *_load_path(args.plugin), "-l", str(driver),
                "--eval", f"(redis-ai-bench-run {json.dumps(str(sample))} {args.keys} {args.samples})"]
        proc = subprocess.run(argv, env=daemon.env, capture_output=True, text=True, timeout=600)
    finally:
        daemon.stop()
        redis.close()
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            figures: dict[str, Any] = json.loads(line[len(MARKER):])
            rounded = {k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}
            return {**rounded, "machine": machine()}
    raise RuntimeError(f"emacs failed (rc {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
