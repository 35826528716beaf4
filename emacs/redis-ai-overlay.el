;;; redis-ai-overlay.el --- Ghost text and annotations for redis-ai  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; How redis-ai results look in a buffer: a completion is ghost text,
;; an overlay at point whose `after-string' shows what accepting would
;; insert; hints and generated tests are annotations, overlays with a
;; `help-echo' that `redis-ai-open-annotation' shows in a buffer where
;; a hint's rewrite can be applied or a test inserted into a test file.
;;
;; Everything drawn here is text from the daemon shown as text: it is
;; never evaluated, and it reaches the buffer only when the user asks.

;;; Code:

(require 'button)
(require 'seq)

;;; Customization

(defface redis-ai-ghost-face
  '((t :inherit shadow))
  "Face of completion ghost text."
  :group 'redis-ai)

(defface redis-ai-hint-face
  '((((supports :underline (:style wave)))
     :underline (:style wave :color "DarkCyan"))
    (t :underline t))
  "Face of the code a hint is about."
  :group 'redis-ai)

(defface redis-ai-annotation-face
  '((t :inherit shadow :slant italic))
  "Face of the markers that announce annotations such as generated tests."
  :group 'redis-ai)

(defcustom redis-ai-test-marker "  [redis-ai test: %s]"
  "Format of the marker shown after the line a generated test is for.
%s is replaced by the test's title."
  :type 'string
  :group 'redis-ai)

;;; Positions

(defun redis-ai-position (line col)
  "Return the position of 1-based LINE and 0-based character COL.
Both are clamped to the buffer and to the line."
  (save-excursion
    (save-restriction
      (widen)
      (goto-char (point-min))
      (forward-line (1- (max 1 line)))
      (min (+ (point) (max 0 col)) (line-end-position)))))

(defun redis-ai-line-col (&optional pos)
  "Return (LINE . COL) of POS (default point): LINE 1-based, COL in characters."
  (save-excursion
    (save-restriction
      (widen)
      (when pos (goto-char pos))
      (cons (line-number-at-pos) (- (point) (line-beginning-position))))))

;;; Ghost text

(defvar-local redis-ai--ghost nil
  "Overlay showing the current completion as ghost text, or nil.")

(defun redis-ai-ghost-show (text &optional pos)
  "Show TEXT as ghost text at POS (default point)."
  (let ((pos (or pos (point)))
        (string (propertize text 'face 'redis-ai-ghost-face)))
    ;; The cursor stays before the ghost text rather than after it.
    (when (> (length string) 0)
      (put-text-property 0 1 'cursor t string))
    (unless (and redis-ai--ghost (overlay-buffer redis-ai--ghost))
      (setq redis-ai--ghost (make-overlay pos pos))
      (overlay-put redis-ai--ghost 'priority 1000)
      (overlay-put redis-ai--ghost 'redis-ai-ghost t))
    (move-overlay redis-ai--ghost pos pos)
    (overlay-put redis-ai--ghost 'after-string string)
    redis-ai--ghost))

(defun redis-ai-ghost-clear ()
  "Remove the ghost text, if any."
  (when redis-ai--ghost
    (delete-overlay redis-ai--ghost)
    (setq redis-ai--ghost nil)))

(defun redis-ai-ghost-text ()
  "Return the ghost text shown in this buffer, or nil."
  (and redis-ai--ghost
       (overlay-buffer redis-ai--ghost)
       (substring-no-properties (overlay-get redis-ai--ghost 'after-string))))

(defun redis-ai-ghost-position ()
  "Return the position of the ghost text, or nil."
  (and redis-ai--ghost (overlay-start redis-ai--ghost)))

(defun redis-ai-next-word (text)
  "Return the start of TEXT up to and including its first word."
  (if (string-match "\\`\\W*\\w+" text)
      (match-string 0 text)
    text))

(defun redis-ai-next-line (text)
  "Return the rest of the first line of TEXT.
When TEXT starts with a newline, return that newline and the next line."
  (if (string-match "\\`\n?[^\n]*" text)
      (match-string 0 text)
    text))

;;; Annotations

(defun redis-ai-annotations-clear (analyzer)
  "Remove the annotations that ANALYZER put in this buffer."
  (save-restriction
    (widen)
    (dolist (ov (overlays-in (point-min) (point-max)))
      (let ((annotation (overlay-get ov 'redis-ai-annotation)))
        (when (and annotation (equal (plist-get annotation :analyzer) analyzer))
          (delete-overlay ov))))))

(defun redis-ai-annotations-show (result)
  "Replace RESULT's analyzer's annotations with the items of RESULT.
RESULT is a `result' push of kind hints or tests."
  (let ((analyzer (alist-get 'analyzer result))
        (kind (alist-get 'kind result)))
    (redis-ai-annotations-clear analyzer)
    (dolist (item (alist-get 'items result))
      (let ((annotation (list :analyzer analyzer :kind kind :item item
                              :result (alist-get 'id result))))
        (pcase kind
          ("hints" (redis-ai--hint-overlay item annotation))
          ;; The result's own line is the cursor's when it was asked
          ;; for; the item's, when the daemon gives it, is the def's.
          ("tests" (redis-ai--test-overlay item annotation
                                           (or (alist-get 'line item)
                                               (alist-get 'line result) 1))))))))

(defun redis-ai--hint-overlay (item annotation)
  "Draw the hint ITEM, described by ANNOTATION."
  (let* ((beg (redis-ai-position (or (alist-get 'line item) 1)
                                 (or (alist-get 'col item) 0)))
         (end (redis-ai-position (or (alist-get 'end_line item)
                                     (alist-get 'line item) 1)
                                 (or (alist-get 'end_col item) 0)))
         (end (if (> end beg) end (save-excursion (goto-char beg)
                                                  (line-end-position))))
         (ov (make-overlay beg end nil t nil)))
    (overlay-put ov 'face 'redis-ai-hint-face)
    (overlay-put ov 'help-echo (format "redis-ai: %s"
                                       (or (alist-get 'message item) "")))
    (overlay-put ov 'redis-ai-annotation annotation)
    ov))

(defun redis-ai--test-overlay (item annotation line)
  "Draw a marker for the generated test ITEM after LINE.
ANNOTATION describes it."
  (let* ((bol (redis-ai-position line 0))
         (eol (save-excursion (goto-char bol) (line-end-position)))
         (ov (make-overlay bol eol nil t nil))
         (title (or (alist-get 'title item) "test")))
    (overlay-put ov 'after-string
                 (propertize (format redis-ai-test-marker title)
                             'face 'redis-ai-annotation-face))
    (overlay-put ov 'help-echo (format "redis-ai: generated test %s" title))
    (overlay-put ov 'redis-ai-annotation annotation)
    ov))

(defun redis-ai-annotations (&optional pos)
  "Return the annotation overlays on the line of POS, or in the buffer if nil."
  (save-restriction
    (widen)
    (let ((overlays (if pos
                        (save-excursion
                          (goto-char pos)
                          (overlays-in (line-beginning-position)
                                       (1+ (line-end-position))))
                      (overlays-in (point-min) (point-max)))))
      (sort (seq-filter (lambda (ov) (overlay-get ov 'redis-ai-annotation))
                        overlays)
            (lambda (a b) (< (overlay-start a) (overlay-start b)))))))

;;; Opening annotations

(defconst redis-ai--annotation-buffer "*redis-ai annotation*"
  "Buffer where an opened annotation is shown.")

(defun redis-ai-annotation-describe (ov)
  "Show the annotation of overlay OV in a buffer, with its actions."
  (let* ((annotation (overlay-get ov 'redis-ai-annotation))
         (item (plist-get annotation :item))
         (source (current-buffer)))
    (with-current-buffer (get-buffer-create redis-ai--annotation-buffer)
      (let ((inhibit-read-only t))
        (erase-buffer)
        (pcase (plist-get annotation :kind)
          ("hints"
           (insert (format "Hint from %s (%s), line %s:\n\n%s\n"
                           (plist-get annotation :analyzer)
                           (or (alist-get 'code item) "")
                           (or (alist-get 'line item) "?")
                           (or (alist-get 'message item) "")))
           (when (stringp (alist-get 'rewrite item))
             (insert "\nRewrite:\n\n" (alist-get 'rewrite item) "\n\n")
             (insert-text-button
              "[Apply the rewrite]"
              'action (lambda (_button) (redis-ai-annotation-apply ov))
              'follow-link t)
             (insert "\n")))
          ("tests"
           (insert (format "Test from %s: %s\nSuggested file: %s\n\n"
                           (plist-get annotation :analyzer)
                           (or (alist-get 'title item) "")
                           (or (alist-get 'path item) "")))
           (insert-text-button
            "[Insert into a test file]"
            'action (lambda (_button)
                      (with-current-buffer source
                        (redis-ai-insert-test item (redis-ai--read-test-file item))))
            'follow-link t)
           (insert "\n\n" (or (alist-get 'text item) "") "\n")))
        (goto-char (point-min))
        (special-mode)))
    (display-buffer redis-ai--annotation-buffer)))

(defun redis-ai-annotation-apply (ov)
  "Replace the span of the hint overlay OV with the hint's rewrite."
  (let* ((annotation (overlay-get ov 'redis-ai-annotation))
         (rewrite (alist-get 'rewrite (plist-get annotation :item)))
         (buffer (overlay-buffer ov)))
    (unless (and buffer (stringp rewrite))
      (user-error "This hint has no rewrite, or its buffer is gone"))
    (with-current-buffer buffer
      (save-excursion
        (let ((beg (overlay-start ov)))
          (goto-char beg)
          (delete-region beg (overlay-end ov))
          (insert rewrite)))
      (delete-overlay ov))))

(defun redis-ai--project-root ()
  "Return the root of the current project, or `default-directory'."
  (or (locate-dominating-file default-directory ".git") default-directory))

(defun redis-ai--read-test-file (item)
  "Ask for the file to put the test ITEM in, proposing its suggested path."
  (let* ((root (redis-ai--project-root))
         (suggested (expand-file-name (or (alist-get 'path item) "test_generated.py")
                                      root)))
    (read-file-name "Insert the test into: " (file-name-directory suggested)
                    suggested nil (file-name-nondirectory suggested))))

(defun redis-ai-insert-test (item file)
  "Append the source of the test ITEM to FILE's buffer and show it.
The buffer is left unsaved, for the user to review; FILE's folder is
created if missing, since a buffer in a missing folder is read-only."
  (make-directory (file-name-directory (expand-file-name file)) t)
  (let ((buffer (find-file-noselect file)))
    (with-current-buffer buffer
      (goto-char (point-max))
      (unless (or (bobp) (bolp)) (insert "\n"))
      (unless (bobp) (insert "\n"))
      (insert (or (alist-get 'text item) "")))
    (pop-to-buffer buffer)
    buffer))

(provide 'redis-ai-overlay)
;;; redis-ai-overlay.el ends here
