;;; redis-ai-next-edit.el --- Next-edit suggestions for redis-ai  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; The next_edit analyzer answers an edit with the edits that follow
;; from it (the same rename at the other uses, an argument at the calls
;; of a def that got a parameter, the same change on similar lines).
;; The next of them, from point on, is drawn where it would go: the text
;; it replaces highlighted, the replacement after it as ghost text.
;; `redis-ai-next-edit-jump' (C-c r j) moves there; at its start TAB, or
;; anywhere `redis-ai-next-edit-accept' (C-c r e), applies it as one
;; undo step, and the one after it is drawn.  A suggestion is applied
;; only to the buffer it was computed for: after any other change it is
;; refused until the daemon has answered the new text.

;;; Code:

(require 'seq)
(require 'redis-ai-connection)
(require 'redis-ai-overlay)

(defface redis-ai-next-edit-face
  '((t :inherit highlight))
  "Face of the text a next-edit suggestion would replace."
  :group 'redis-ai)

(defvar-local redis-ai-next-edit--items nil
  "Suggested edits: plists (:beg MARKER :end MARKER :old :text :title :result).")

(defvar-local redis-ai-next-edit--tick nil
  "Change tick of the buffer the suggestions were computed for.")

(defvar-local redis-ai-next-edit--overlay nil
  "Overlay drawing the next suggestion, or nil.")

(defvar-local redis-ai-next-edit--decided nil
  "Ids of the results whose acceptance was already reported (once each).")

(defvar-local redis-ai-next-edit--active nil
  "Non-nil while point is at the start of the drawn suggestion.")

(defvar redis-ai-next-edit-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'redis-ai-next-edit-accept)
    (define-key map (kbd "<tab>") #'redis-ai-next-edit-accept)
    map)
  "Keymap active while point is at the start of a next-edit suggestion.")

(defvar redis-ai-next-edit--emulation
  `((redis-ai-next-edit--active . ,redis-ai-next-edit-map))
  "Entry of `emulation-mode-map-alists' for `redis-ai-next-edit-map'.")

(defun redis-ai-next-edit-take (result)
  "Replace the suggestions with the items of the next_edit RESULT."
  (redis-ai-next-edit-clear)
  ;; A JSON array: a vector.
  (dolist (item (append (alist-get 'items result) nil))
    (let ((beg (redis-ai-position (alist-get 'line item) (alist-get 'col item)))
          (end (redis-ai-position (alist-get 'end_line item) (alist-get 'end_col item))))
      (when (and (stringp (alist-get 'text item)) (<= beg end))
        (push (list :beg (copy-marker beg) :end (copy-marker end t)
                    :old (buffer-substring-no-properties beg end)
                    :text (alist-get 'text item)
                    :title (alist-get 'title item)
                    :result (alist-get 'id result))
              redis-ai-next-edit--items))))
  (setq redis-ai-next-edit--items (nreverse redis-ai-next-edit--items)
        redis-ai-next-edit--tick (buffer-chars-modified-tick))
  (add-to-list 'emulation-mode-map-alists 'redis-ai-next-edit--emulation)
  (add-hook 'post-command-hook #'redis-ai-next-edit--follow nil t)
  (when redis-ai-next-edit--items
    (redis-ai-call 'feedback `((suggestion . ,(or (alist-get 'id result) ""))
                               (analyzer . "next_edit") (action . "shown"))))
  (redis-ai-next-edit--draw)
  t)

(defun redis-ai-next-edit-clear ()
  "Forget the suggestions and remove their drawing."
  (when redis-ai-next-edit--overlay
    (delete-overlay redis-ai-next-edit--overlay))
  (dolist (item redis-ai-next-edit--items)
    (set-marker (plist-get item :beg) nil)
    (set-marker (plist-get item :end) nil))
  (setq redis-ai-next-edit--items nil
        redis-ai-next-edit--overlay nil
        redis-ai-next-edit--active nil))

(defun redis-ai-next-edit-current ()
  "Return the suggestion that comes next from point (wrapping), or nil."
  (or (seq-find (lambda (item) (>= (plist-get item :beg) (point)))
                redis-ai-next-edit--items)
      (car redis-ai-next-edit--items)))

(defun redis-ai-next-edit--draw ()
  "Draw the next suggestion: its span highlighted, its text after it."
  (when redis-ai-next-edit--overlay
    (delete-overlay redis-ai-next-edit--overlay)
    (setq redis-ai-next-edit--overlay nil))
  (let ((item (redis-ai-next-edit-current)))
    (when item
      (let ((ov (make-overlay (plist-get item :beg) (plist-get item :end))))
        (overlay-put ov 'face 'redis-ai-next-edit-face)
        (overlay-put ov 'priority 900)
        (overlay-put ov 'redis-ai-next-edit item)
        (overlay-put ov 'after-string
                     (propertize (concat (if (string= (plist-get item :old) "") "" "→")
                                         (plist-get item :text))
                                 'face 'redis-ai-ghost-face))
        (overlay-put ov 'help-echo (format "redis-ai: %s (C-c r e)" (plist-get item :title)))
        (setq redis-ai-next-edit--overlay ov)))))

(defun redis-ai-next-edit--follow ()
  "Keep `redis-ai-next-edit--active' true only at the drawn suggestion's start."
  (setq redis-ai-next-edit--active
        (and redis-ai-next-edit--overlay
             (eql (point) (overlay-start redis-ai-next-edit--overlay)))))

(defun redis-ai-next-edit-jump ()
  "Move point to the start of the next suggested edit."
  (interactive)
  (let ((item (redis-ai-next-edit-current)))
    (unless item
      (user-error "No redis-ai next-edit suggestion"))
    (goto-char (plist-get item :beg))
    (redis-ai-next-edit--draw)
    (message "redis-ai: %s" (plist-get item :title))))

(defun redis-ai-next-edit-accept ()
  "Apply the next suggested edit (the one drawn), then draw the one after."
  (interactive)
  (let ((item (or (and redis-ai-next-edit--overlay
                       (overlay-get redis-ai-next-edit--overlay 'redis-ai-next-edit))
                  (redis-ai-next-edit-current))))
    (unless item
      (user-error "No redis-ai next-edit suggestion"))
    (unless (eql redis-ai-next-edit--tick (buffer-chars-modified-tick))
      (user-error "The buffer changed since this suggestion was made"))
    (let ((beg (marker-position (plist-get item :beg)))
          (end (marker-position (plist-get item :end))))
      (unless (equal (buffer-substring-no-properties beg end) (plist-get item :old))
        (user-error "The text of this suggestion changed"))
      (save-excursion
        (goto-char beg)
        (delete-region beg end)
        (insert (plist-get item :text)))
      (goto-char (+ beg (length (plist-get item :text)))))
    (setq redis-ai-next-edit--items (delq item redis-ai-next-edit--items)
          redis-ai-next-edit--tick (buffer-chars-modified-tick))
    (unless (member (plist-get item :result) redis-ai-next-edit--decided)
      (push (plist-get item :result) redis-ai-next-edit--decided)
      (redis-ai-call 'feedback `((suggestion . ,(or (plist-get item :result) ""))
                                 (analyzer . "next_edit") (action . "accepted"))))
    (redis-ai-next-edit--draw)))

(provide 'redis-ai-next-edit)
;;; redis-ai-next-edit.el ends here
