;;; redis-ai-fix.el --- Apply checked fixes of diagnostics  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; A diagnostic may carry a `fix': ruff's safe fix, which the daemon
;; checked by running ruff on the fixed text.  A fix is a title and
;; plain text replacements of buffer ranges; applying it inserts that
;; text and nothing else (nothing received is ever evaluated).
;;
;; A fix describes the buffer as it was at the change tick its result
;; names.  It is applied only while the buffer is still at that tick,
;; so the text at its ranges is the text ruff saw; after any change it
;; is refused, and the next result (sent once typing pauses) offers
;; the fixes of the new text, checked again.  One command's edits are
;; one undo step.

;;; Code:

(require 'redis-ai-overlay)
(require 'seq)
(require 'subr-x)

(defvar-local redis-ai-fix--held nil
  "Alist: analyzer name -> (TICK . ITEMS), its latest diagnostics with a fix.
TICK is the buffer's change tick the fixes were computed for.")

(defun redis-ai-fix--edit-p (edit)
  "Return non-nil if EDIT has the protocol's shape.
That is four integers, a range that does not end before it starts,
and a string."
  (and (consp edit)
       (seq-every-p (lambda (key) (natnump (alist-get key edit)))
                    '(line col end_line end_col))
       (let-alist edit
         (or (< .line .end_line) (and (= .line .end_line) (<= .col .end_col))))
       (stringp (alist-get 'text edit))))

(defun redis-ai-fix--fix (item)
  "Return the fix of the diagnostics ITEM; nil if none or a malformed one."
  (let ((fix (alist-get 'fix item)))
    (and (consp fix)
         (alist-get 'edits fix)
         (listp (alist-get 'edits fix))
         (seq-every-p #'redis-ai-fix--edit-p (alist-get 'edits fix))
         fix)))

(defun redis-ai-fix-update (analyzer tick items)
  "Hold the ITEMS of ANALYZER that carry a fix, computed at change TICK.
They replace what ANALYZER offered before; a result without a tick
offers no fix, since it could not be checked against the buffer."
  (let ((fixable (and (integerp tick) (seq-filter #'redis-ai-fix--fix items))))
    (setf (alist-get analyzer redis-ai-fix--held nil 'remove #'equal)
          (and fixable (cons tick fixable)))))

(defun redis-ai-fix-clear ()
  "Forget every fix held in this buffer."
  (setq redis-ai-fix--held nil))

(defun redis-ai-fix--all ()
  "Return the held fixes as a list of (TICK . ITEM), in buffer order."
  (sort (mapcan (lambda (entry)
                  (mapcar (lambda (item) (cons (cadr entry) item)) (cddr entry)))
                redis-ai-fix--held)
        (lambda (a b)
          (let ((la (alist-get 'line (cdr a))) (lb (alist-get 'line (cdr b))))
            (or (< la lb)
                (and (= la lb) (< (alist-get 'col (cdr a)) (alist-get 'col (cdr b)))))))))

(defun redis-ai-fix-at-line (&optional pos)
  "Return the held (TICK . ITEM) whose diagnostic is on the line of POS."
  (let ((line (car (redis-ai-line-col pos))))
    (seq-filter (lambda (entry)
                  (let ((item (cdr entry)))
                    (<= (alist-get 'line item) line
                        (or (alist-get 'end_line item) (alist-get 'line item)))))
                (redis-ai-fix--all))))

(defun redis-ai-fix-title (item)
  "Return the name of the fix of ITEM, for a prompt or a message."
  (let ((title (alist-get 'title (alist-get 'fix item))))
    (format "%s%s"
            (if (alist-get 'code item) (format "%s: " (alist-get 'code item)) "")
            (if (and (stringp title) (not (string-empty-p title)))
                title
              (or (alist-get 'message item) "fix")))))

(defun redis-ai-fix--spans (item)
  "Return the edits of ITEM's fix as (BEG END TEXT), buffer positions."
  (mapcar (lambda (edit)
            (list (redis-ai-position (alist-get 'line edit) (alist-get 'col edit))
                  (redis-ai-position (alist-get 'end_line edit) (alist-get 'end_col edit))
                  (alist-get 'text edit)))
          (alist-get 'edits (alist-get 'fix item))))

(defun redis-ai-fix--overlap-p (spans taken)
  "Return non-nil if any of SPANS touches a span of TAKEN.
Two insertions at one place count: their order would matter."
  (seq-some (lambda (s)
              (seq-some (lambda (s2)
                          (and (< (car s) (max (cadr s2) (1+ (car s2))))
                               (< (car s2) (max (cadr s) (1+ (car s))))))
                        taken))
            spans))

(defun redis-ai-fix--check-fresh (entries)
  "Signal a `user-error' unless all (TICK . ITEM) of ENTRIES are fresh.
Fresh means computed for the buffer's text as it is now."
  (unless (seq-every-p (lambda (entry) (eql (car entry) (buffer-chars-modified-tick)))
                       entries)
    (user-error "The buffer changed since redis-ai computed this fix; \
it is offered again once the daemon has checked the new text")))

(defun redis-ai-fix--replace (spans)
  "Replace each (BEG END TEXT) of SPANS (they never overlap) in one undo step."
  ;; Its own step, also when called from Lisp rather than as a command
  ;; (before the group starts, or amalgamating would remove it).
  (undo-boundary)
  (let ((group (prepare-change-group))
        (done nil))
    (unwind-protect
        (progn
          (activate-change-group group)
          (save-excursion
            (save-restriction
              (widen)
              ;; From the last to the first: an edit moves no position
              ;; that an edit still to come refers to.
              (dolist (span (sort spans (lambda (a b) (> (car a) (car b)))))
                (goto-char (nth 0 span))
                (delete-region (nth 0 span) (nth 1 span))
                (insert (nth 2 span)))))
          (undo-amalgamate-change-group group)
          (accept-change-group group)
          (setq done t))
      (unless done
        (cancel-change-group group)))))

(defun redis-ai-fix-apply (entries)
  "Apply the fixes of ENTRIES, a list of (TICK . ITEM), as one undo step.
Fixes are taken in order; one with the same edits as a fix already
taken is applied by it, one that overlaps a fix already taken is
left out.  Signal a `user-error' if any entry is stale.  Return the
number of diagnostics fixed."
  (barf-if-buffer-read-only)
  (redis-ai-fix--check-fresh entries)
  (let ((fixes nil) (taken nil) (count 0))
    (dolist (entry entries)
      (let ((spans (redis-ai-fix--spans (cdr entry))))
        (cond
         ;; ruff gives every unused name of `import os, sys' the same
         ;; fix, removing the statement.
         ((member spans fixes) (setq count (1+ count)))
         ((redis-ai-fix--overlap-p spans taken))
         (t (push spans fixes)
            (setq taken (append spans taken)
                  count (1+ count))))))
    (when taken
      (redis-ai-fix--replace taken))
    count))

(defun redis-ai-fix--choose (entries)
  "Return the entry of ENTRIES meant: the one at point, or the one chosen."
  (or (and (null (cdr entries)) (car entries))
      (let ((at-point (seq-filter
                       (lambda (entry)
                         (let ((item (cdr entry)))
                           (<= (redis-ai-position (alist-get 'line item) (alist-get 'col item))
                               (point)
                               (redis-ai-position (or (alist-get 'end_line item)
                                                      (alist-get 'line item))
                                                  (or (alist-get 'end_col item) 0)))))
                       entries)))
        (and (null (cdr at-point)) (car at-point)))
      (let* ((choices (seq-map-indexed
                       (lambda (entry i)
                         (cons (format "%d. %s" (1+ i) (redis-ai-fix-title (cdr entry)))
                               entry))
                       entries)))
        (cdr (assoc (completing-read "Apply fix: " choices nil t) choices)))))

(defun redis-ai-fix ()
  "Apply the fix of the redis-ai diagnostic at point.
With several fixes on the line, apply the one whose diagnostic
covers point, or ask which.  The fix is refused if the buffer
changed since it was computed."
  (interactive)
  (let ((here (redis-ai-fix-at-line)))
    (unless here
      (user-error "No redis-ai fix on this line%s"
                  (let ((n (length (redis-ai-fix--all))))
                    (if (> n 0)
                        (substitute-command-keys
                         (format " (%d in the buffer: \\[redis-ai-fix-all])" n))
                      ""))))
    (let ((entry (redis-ai-fix--choose here)))
      (redis-ai-fix-apply (list entry))
      (message "redis-ai: applied %s" (redis-ai-fix-title (cdr entry))))))

(defun redis-ai-fix-all ()
  "Apply every redis-ai fix held for the buffer, as one undo step.
A fix that overlaps one applied before it is left for the daemon's
next check.  Refused if the buffer changed since the fixes were computed."
  (interactive)
  (let* ((entries (redis-ai-fix--all))
         (count (if entries
                    (redis-ai-fix-apply entries)
                  (user-error "No redis-ai fix in this buffer")))
         (left (- (length entries) count)))
    (message "redis-ai: applied %d fix%s%s" count (if (= count 1) "" "es")
             (if (> left 0)
                 (format "; %d overlapping left for the next check" left)
               ""))))

(defun redis-ai-fix-context-menu (menu click)
  "Add the fixes on the line of CLICK to the context MENU; return MENU.
For `context-menu-functions' (Emacs 28 and later)."
  (let* ((start (event-start click))
         (buffer (current-buffer))
         (entries (and (windowp (posn-window start))
                       (eq (window-buffer (posn-window start)) buffer)
                       (integer-or-marker-p (posn-point start))
                       (redis-ai-fix-at-line (posn-point start)))))
    (when entries
      (define-key-after menu [redis-ai-fix-separator] menu-bar-separator)
      (seq-do-indexed
       (lambda (entry i)
         (define-key-after menu (vector (intern (format "redis-ai-fix-%d" i)))
           `(menu-item ,(format "Fix %s" (redis-ai-fix-title (cdr entry)))
                       ,(lambda ()
                          (interactive)
                          (with-current-buffer buffer
                            (redis-ai-fix-apply (list entry)))))))
       entries))
    menu))

(provide 'redis-ai-fix)
;;; redis-ai-fix.el ends here
