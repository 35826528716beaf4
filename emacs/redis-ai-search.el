;;; redis-ai-search.el --- Semantic code search through the redis-ai daemon  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; `redis-ai-search' asks the daemon for the code chunks nearest in
;; meaning to a few plain words (its `search' method, see
;; docs/protocol.md) and shows them through xref, so RET, `n'/`p' in
;; the *xref* buffer and `next-error' go to them as they do for any
;; other list of places.
;;
;; The call is asynchronous: the command returns at once and the list
;; appears when the daemon answers.  Files get into the index through
;; `redis-ai index PATH...' and, while the daemon runs, each time they
;; are saved in a buffer with `redis-ai-mode'.
;;
;; Every string of the answer is data: shown as text, never evaluated.

;;; Code:

(require 'redis-ai-connection)
(require 'seq)
(require 'subr-x)
(require 'xref)

(declare-function project-current "project" (&optional maybe-prompt directory))
(declare-function project-root "project" (project))
;; Public from xref 1.4 (Emacs 29); older ones have the same function
;; under a private name.
(declare-function xref-show-xrefs "xref" (fetcher display-action))
(declare-function xref--show-xrefs "xref" (fetcher display-action &optional always-show-list))

;;; Customization

(defcustom redis-ai-search-results 10
  "Most places a search shows (the daemon allows at most 50)."
  :type 'integer
  :group 'redis-ai)

(defface redis-ai-search-name-face '((t :inherit font-lock-function-name-face))
  "Face of the function or class name of a search result."
  :group 'redis-ai)

(defface redis-ai-search-score-face '((t :inherit shadow))
  "Face of the similarity score of a search result."
  :group 'redis-ai)

;;; State

(defvar redis-ai-search-history nil
  "Queries given to `redis-ai-search'.")

(defvar redis-ai-search--serial 0
  "Number of the latest search; the answers of older ones are ignored.")

;;; Results

(defun redis-ai-search--first-line (text)
  "Return the first line of TEXT that is not blank, trimmed."
  (or (seq-find (lambda (line) (not (string-blank-p line)))
                (mapcar #'string-trim (split-string (or text "") "\n")))
      ""))

(defun redis-ai-search--summary (hit)
  "Return the line that stands for HIT in the list: name, score, code."
  (let ((name (alist-get 'name hit))
        (score (alist-get 'score hit))
        (preview (alist-get 'preview hit)))
    (string-join
     (delq nil
           (list (and (stringp name) (not (string= name ""))
                      (propertize name 'face 'redis-ai-search-name-face))
                 (and (numberp score)
                      (propertize (format "%.2f" score) 'face 'redis-ai-search-score-face))
                 (redis-ai-search--first-line (and (stringp preview) preview))))
     "  ")))

(defun redis-ai-search-xrefs (reply)
  "Return the xref items of the daemon's REPLY to `search', best first.
A hit without a file name or a positive line number is left out."
  (let (xrefs)
    (dolist (hit (alist-get 'hits reply))
      (let ((file (alist-get 'file hit))
            (line (alist-get 'line hit)))
        (when (and (consp hit) (stringp file) (not (string= file ""))
                   (integerp line) (> line 0))
          (push (xref-make (redis-ai-search--summary hit)
                           (xref-make-file-location file line 0))
                xrefs))))
    (nreverse xrefs)))

(defun redis-ai-search--show (xrefs)
  "Show XREFS in the *xref* buffer."
  (let ((fetcher (lambda () xrefs)))
    (if (fboundp 'xref-show-xrefs)
        (xref-show-xrefs fetcher nil)
      (xref--show-xrefs fetcher nil))))

(defun redis-ai-search--answered (serial query origin reply)
  "Show REPLY to search number SERIAL for QUERY, asked from buffer ORIGIN."
  (when (= serial redis-ai-search--serial)
    (let ((xrefs (redis-ai-search-xrefs reply))
          (chunks (alist-get 'chunks reply)))
      (cond
       (xrefs
        (if (buffer-live-p origin)
            (with-current-buffer origin (redis-ai-search--show xrefs))
          (redis-ai-search--show xrefs))
        (message "redis-ai: %d places for \"%s\" (%s chunks indexed)"
                 (length xrefs) query chunks))
       ((eql chunks 0)
        (message "redis-ai: nothing is indexed yet: run redis-ai index PATH..."))
       (t (message "redis-ai: nothing found for \"%s\"" query))))))

(defun redis-ai-search--failed (serial err)
  "Tell the user that search number SERIAL failed with ERR."
  (when (= serial redis-ai-search--serial)
    (message "redis-ai: search failed: %s"
             (if (stringp err) err (format "%S" err)))))

;;; Commands

(defun redis-ai-search--default-query ()
  "Return the active region's text or the symbol at point, or nil."
  (let ((text (if (use-region-p)
                  (buffer-substring-no-properties (region-beginning) (region-end))
                (thing-at-point 'symbol t))))
    (when text
      (let ((query (string-trim (replace-regexp-in-string "[ \t\n]+" " " text))))
        (unless (string= query "") query)))))

(defun redis-ai-search--project-root ()
  "Return the current project's root folder, or signal a `user-error'."
  (require 'project)
  (let ((project (project-current)))
    (unless project
      (user-error "Not in a project: search everything without a prefix argument"))
    (directory-file-name
     (expand-file-name
      (if (fboundp 'project-root)
          (project-root project)
        ;; Emacs 27's project.el has only the plural form.
        (with-no-warnings (car (project-roots project))))))))

(defun redis-ai-search--read-query ()
  "Read a query in the minibuffer, offering the default query."
  (let* ((default (redis-ai-search--default-query))
         (shown (and default (truncate-string-to-width default 40 nil nil "...")))
         (query (read-string (if shown
                                 (format "Search code (default %s): " shown)
                               "Search code: ")
                             nil 'redis-ai-search-history default)))
    (if (string-blank-p query)
        (user-error "Nothing to search for")
      (string-trim query))))

;;;###autoload
(defun redis-ai-search (query &optional root)
  "Show the indexed code nearest in meaning to QUERY, through xref.
Interactively, read QUERY, by default the active region or the symbol
at point; with a prefix argument, only search under the current
project's ROOT folder.  The list appears when the daemon answers;
typing never waits for it."
  (interactive
   (list (redis-ai-search--read-query)
         (and current-prefix-arg (redis-ai-search--project-root))))
  (let ((serial (setq redis-ai-search--serial (1+ redis-ai-search--serial)))
        (origin (current-buffer)))
    (cond
     ((not (redis-ai-connected-p))
      (redis-ai-connection-ensure)
      (message "redis-ai: not connected to the daemon (%s); start it with %s"
               redis-ai--state "M-x redis-ai-start-daemon or redis-ai daemon"))
     ((redis-ai-call 'search
                     `((query . ,query)
                       (k . ,redis-ai-search-results)
                       ,@(and root `((root . ,root))))
                     (lambda (reply)
                       (redis-ai-search--answered serial query origin reply))
                     (lambda (err) (redis-ai-search--failed serial err)))
      (message "redis-ai: searching for \"%s\"%s..." query
               (if root (format " in %s" (abbreviate-file-name root)) "")))
     (t (message "redis-ai: the daemon is not answering (%d calls waiting)"
                 (hash-table-count redis-ai--inflight))))))

(provide 'redis-ai-search)
;;; redis-ai-search.el ends here
