;;; redis-ai-flymake.el --- Flymake backend for redis-ai diagnostics  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; Diagnostics from the daemon reach the user through Flymake, so they
;; show wherever Flymake shows anything (fringe, mode line, the
;; diagnostics buffer, `flymake-goto-next-error').  The daemon pushes
;; results on its own schedule, so the backend does not start a check:
;; it reports the latest diagnostics it holds, and reports again, with
;; the same report function, each time a new diagnostics result comes.

;;; Code:

(require 'flymake)
(require 'redis-ai-overlay)

(defvar-local redis-ai-flymake--report-fn nil
  "The report function Flymake gave in its latest call of the backend.")

(defvar-local redis-ai-flymake--items nil
  "Alist: analyzer name -> that analyzer's latest diagnostic items.")

(defun redis-ai-flymake (report-fn &rest _args)
  "Give REPORT-FN the diagnostics held for this buffer: a Flymake backend."
  (setq redis-ai-flymake--report-fn report-fn)
  (redis-ai-flymake--report))

(defun redis-ai-flymake-update (analyzer items)
  "Make ITEMS the diagnostics of ANALYZER in this buffer and show them."
  (setf (alist-get analyzer redis-ai-flymake--items nil nil #'equal) items)
  (cond
   ((not (bound-and-true-p flymake-mode)))
   ((and redis-ai-flymake--report-fn (redis-ai-flymake--report)))
   ;; Without a live report function, a new check calls the backend,
   ;; which then reports what is held.
   (t (flymake-start))))

(defun redis-ai-flymake-clear ()
  "Forget every diagnostic and Flymake's report function in this buffer."
  (setq redis-ai-flymake--items nil)
  (when redis-ai-flymake--report-fn
    (redis-ai-flymake--report))
  (setq redis-ai-flymake--report-fn nil))

(defvar redis-ai-flymake--fix-key nil
  "How the diagnostics of one report name the fix command (its key).")

(defun redis-ai-flymake--report ()
  "Report the held diagnostics; return nil if Flymake refused the report."
  (let* ((redis-ai-flymake--fix-key
          ;; Looked up once per report: the key follows the user's bindings.
          (substitute-command-keys "\\[redis-ai-fix]"))
         (diagnostics
          (mapcan (lambda (entry)
                    (mapcar #'redis-ai-flymake--diagnostic (cdr entry)))
                  redis-ai-flymake--items)))
    (condition-case nil
        (progn
          ;; The region makes this report replace the previous ones
          ;; rather than add to them.
          (funcall redis-ai-flymake--report-fn diagnostics
                   :region (save-restriction (widen) (cons (point-min) (point-max))))
          t)
      ;; The report function belongs to a check Flymake has since
      ;; replaced: forget it.
      (error (setq redis-ai-flymake--report-fn nil)))))

(defun redis-ai-flymake--type (severity)
  "Return the Flymake diagnostic type of the protocol's SEVERITY."
  (pcase severity
    ("error" :error)
    ("warning" :warning)
    (_ :note)))

(defun redis-ai-flymake--diagnostic (item)
  "Return a Flymake diagnostic for the diagnostics ITEM."
  (let* ((line (or (alist-get 'line item) 1))
         (beg (redis-ai-position line (or (alist-get 'col item) 0)))
         (end (redis-ai-position (or (alist-get 'end_line item) line)
                                 (or (alist-get 'end_col item) 0)))
         (end (cond ((> end beg) end)
                    ((save-excursion (goto-char beg) (eolp))
                     (setq beg (max (save-excursion (goto-char beg)
                                                    (line-beginning-position))
                                    (1- beg)))
                     (1+ beg))
                    (t (save-excursion
                         (goto-char beg)
                         (if (looking-at "\\(?:\\sw\\|\\s_\\)+")
                             (match-end 0)
                           (1+ beg))))))
         (code (alist-get 'code item))
         (source (alist-get 'source item)))
    (flymake-make-diagnostic
     (current-buffer) beg (min end (point-max))
     (redis-ai-flymake--type (alist-get 'severity item))
     (concat (if source (format "%s: " source) "")
             (or (alist-get 'message item) "")
             (if code (format " [%s]" code) "")
             (if (alist-get 'fix item)
                 (format " (fix: %s)" redis-ai-flymake--fix-key)
               "")))))

(provide 'redis-ai-flymake)
;;; redis-ai-flymake.el ends here
