;;; redis-ai-lisp.el --- Define and manage redis-ai's stored Lisp programs  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; The daemon's `lisp' and `lisp_hints' analyzers run small programs
;; kept in Redis (docs/lisp.md).  This file makes writing them an
;; editor workflow, as evaluating a defun is:
;;
;; - `redis-ai-lisp-define' sends the buffer (or the region) to the
;;   daemon as program NAME, by default the file name without its
;;   extension.  A program the daemon refuses is reported with
;;   `message', and for a reader error point moves to the line and
;;   column it names; a program it accepts runs on the next keystroke
;;   in any buffer with `redis-ai-mode'.
;; - `redis-ai-lisp-list' lists the stored programs: RET opens one's
;;   source, `d' removes it, `g' refreshes.
;; - `redis-ai-lisp-run' tries the buffer's program on another buffer
;;   and lists the items it gives.
;;
;; A program's settings can live in the comment lines at its top,
;; before its first form:
;;
;;   ;; kind: hints
;;   ;; languages: python, lua
;;   ;; description: a hint on comments that mark work left to do
;;
;; Without a `kind:' line, `redis-ai-lisp-define' asks for the kind
;; once per buffer.  A setting without a line keeps the stored value.
;;
;; - `redis-ai-lisp-evolve' asks the daemon to write (or improve) the
;;   program NAME from a request in plain words and examples:
;;   `redis-ai-lisp-example-flag' (C-c r +) and `redis-ai-lisp-example-ok'
;;   (C-c r -) add the region, or the buffer, as code that must or must
;;   not be flagged; `redis-ai-lisp-examples' (C-c r X) lists them.  The
;;   daemon works on it while Emacs goes on, and the outcome (live or
;;   not, the scores, the lineage) shows in a buffer.
;;
;; `redis-ai-lisp-mode' puts these commands under C-c r L, C-c r P,
;; C-c r R, C-c r E, C-c r +, C-c r - and C-c r X in the buffers where
;; programs are written (hook it to
;; `lisp-mode'; the buffers opened from the list have it), which need
;; not have `redis-ai-mode': it sends nothing as you type.
;;
;; Every answer of the daemon is data: shown as text, never evaluated.

;;; Code:

(require 'redis-ai-connection)
(require 'seq)
(require 'subr-x)
(require 'tabulated-list)

(declare-function compilation-mode "compile" (&optional name-of-mode))

(defvar redis-ai-keymap-prefix)

;;; Customization

(defconst redis-ai-lisp-kinds '("diagnostics" "hints")
  "The kinds a program can have: what its items are.")

(defconst redis-ai-lisp--header-regexp
  "^;+[ \t]*\\(kind\\|languages\\|description\\):[ \t]*\\(.*?\\)[ \t]*$"
  "A header line of a program: a setting in a comment before its first form.")

(defconst redis-ai-lisp--position-regexp
  "\\`[^ ]+ not defined: line \\([0-9]+\\), col \\([0-9]+\\): "
  "How the daemon's refusal of a program that does not read starts.")

;;; State

(defvar-local redis-ai-lisp-name nil
  "The program this buffer holds, when it is not named after the file.
Set by `redis-ai-lisp-define' and in buffers opened from the list.")

(defvar-local redis-ai-lisp--kind nil
  "The kind chosen for this buffer's program when it had no header.")

(defvar redis-ai-lisp-name-history nil
  "Program names given to the redis-ai Lisp commands.")

;;; Headers and names

(defun redis-ai-lisp-header (text)
  "Return the settings in the header of program TEXT, an alist.
The header is the comment lines before the first form; its lines
`;; kind: K', `;; languages: A, B' and `;; description: D' give the
keys `kind' (a string), `languages' (a list of strings) and
`description' (a string).  Keys without a line are left out."
  (let (settings)
    (catch 'done
      (dolist (line (split-string text "\n"))
        (cond
         ((string-match redis-ai-lisp--header-regexp line)
          (let ((key (intern (match-string 1 line)))
                (value (match-string 2 line)))
            (unless (assq key settings)
              (push (cons key (if (eq key 'languages)
                                  (split-string value "[ \t]*,[ \t]*" t "[ \t]+")
                                value))
                    settings))))
         ((string-match-p "\\`[ \t]*\\(;.*\\)?\\'" line))
         (t (throw 'done nil)))))
    (nreverse settings)))

(defun redis-ai-lisp-default-name ()
  "Return the name of the current buffer's program, or nil.
That is `redis-ai-lisp-name', else the file name without extension."
  (or redis-ai-lisp-name
      (and buffer-file-name (file-name-base buffer-file-name))))

(defun redis-ai-lisp--read-name (prompt)
  "Read a program name with PROMPT, offering the buffer's program."
  (let* ((default (redis-ai-lisp-default-name))
         (name (read-string (if default (format "%s (default %s): " prompt default)
                              (format "%s: " prompt))
                            nil 'redis-ai-lisp-name-history default)))
    (if (string-blank-p name)
        (user-error "No program name")
      (string-trim name))))

(defun redis-ai-lisp--error-text (err)
  "Return the text of ERR, an error from `redis-ai-call'.
EPC hands over the daemon's \"CODE: MESSAGE\" printed as a string;
the quotes and the escapes are taken off as text, not read."
  (let ((text (cond ((and (consp err) (symbolp (car err))) (error-message-string err))
                    ((stringp err) err)
                    (t (format "%S" err)))))
    (when (string-match "\\`\"\\(\\(?:.\\|\n\\)*\\)\"\\'" text)
      (setq text (replace-regexp-in-string "\\\\\\(.\\)" "\\1" (match-string 1 text) t)))
    (if (string-match "\\`[a-z_]+: " text)
        (substring text (match-end 0))
      text)))

(defun redis-ai-lisp-error-position (message)
  "Return (LINE . COL) if MESSAGE is the daemon's refusal of unreadable text.
LINE is 1-based and COL 0-based, in the source that was sent."
  (when (string-match redis-ai-lisp--position-regexp message)
    (cons (string-to-number (match-string 1 message))
          (string-to-number (match-string 2 message)))))

(defun redis-ai-lisp--goto (buffer start line col)
  "In BUFFER, move point to LINE and COL of the text that begins at START.
Windows showing BUFFER follow."
  (when (buffer-live-p buffer)
    (with-current-buffer buffer
      (let ((pos (save-excursion
                   (goto-char start)
                   (let ((first (= line 1)))
                     (forward-line (1- line))
                     ;; The reader counts characters, not display columns.
                     (if first
                         (min (+ start col) (line-end-position))
                       (min (+ (point) col) (line-end-position)))))))
        (goto-char pos)
        (dolist (window (get-buffer-window-list buffer nil t))
          (set-window-point window pos))))))

(defun redis-ai-lisp--not-connected ()
  "Tell the user that the daemon cannot be reached, and try to reach it."
  (redis-ai-connection-ensure)
  (message "redis-ai: not connected to the daemon (%s); start it with %s"
           redis-ai--state "M-x redis-ai-start-daemon or redis-ai daemon"))

(defun redis-ai-lisp--call (method params on-reply &optional on-error)
  "Call METHOD with PARAMS; ON-REPLY gets the answer.
ON-ERROR gets the error's text; by default it is shown with `message'."
  (let ((fail (lambda (err)
                (let ((text (redis-ai-lisp--error-text err)))
                  (if on-error
                      (funcall on-error text)
                    (message "redis-ai: %s failed: %s" method text))))))
    (cond
     ((not (redis-ai-connected-p)) (redis-ai-lisp--not-connected) nil)
     ((redis-ai-call method params on-reply fail) t)
     (t (message "redis-ai: the daemon is not answering (%d calls waiting)"
                 (hash-table-count redis-ai--inflight))
        nil))))

;;; Define

(defun redis-ai-lisp--kind (header)
  "Return the kind from HEADER, else the buffer's, else ask for one."
  (or (alist-get 'kind header)
      redis-ai-lisp--kind
      (setq redis-ai-lisp--kind
            (completing-read "Kind of program (default diagnostics): "
                             redis-ai-lisp-kinds nil t nil nil "diagnostics"))))

(defun redis-ai-lisp--defined (name reply)
  "Tell the user that program NAME was stored, with the REPLY's figures."
  (message "redis-ai: defined %s version %s: %s forms, %s%s" name
           (alist-get 'version reply) (alist-get 'forms reply) (alist-get 'kind reply)
           (if (eq (alist-get 'analyzer reply) t) ""
             " (no analyze: a helper for other programs)")))

(defun redis-ai-lisp--refused (buffer start text)
  "Show the daemon's refusal TEXT of the program from BUFFER at START.
For a reader error, move point to the place it names."
  (let ((where (redis-ai-lisp-error-position text)))
    (when where
      (redis-ai-lisp--goto buffer start (car where) (cdr where)))
    (message "redis-ai: %s" text)))

;;;###autoload
(defun redis-ai-lisp-define (name &optional beg end)
  "Send the buffer to the daemon as the Lisp program NAME.
With an active region, send only the text from BEG to END.  NAME is
the buffer's program (see `redis-ai-lisp-default-name'); with a
prefix argument, or when the buffer has no file, it is read.  The
program's kind, languages and description come from its header (see
`redis-ai-lisp-header'); without a kind there, it is asked for once.
The daemon checks the program before storing it: a refusal is shown,
and point moves to the position of a reader error.  A stored program
runs on the next event of every buffer with `redis-ai-mode'."
  (interactive
   (list (if (or current-prefix-arg (not (redis-ai-lisp-default-name)))
             (redis-ai-lisp--read-name "Define program")
           (redis-ai-lisp-default-name))
         (and (use-region-p) (region-beginning))
         (and (use-region-p) (region-end))))
  (let* ((beg (or beg (point-min)))
         (end (or end (point-max)))
         (source (buffer-substring-no-properties beg end))
         (header (redis-ai-lisp-header source))
         (buffer (current-buffer))
         (params `((name . ,name)
                   (source . ,source)
                   (kind . ,(redis-ai-lisp--kind header))
                   ,@(and (assq 'languages header)
                          ;; A vector: an empty list would be sent as null.
                          `((languages . ,(vconcat (alist-get 'languages header)))))
                   ,@(and (assq 'description header)
                          `((description . ,(alist-get 'description header)))))))
    (when (redis-ai-lisp--call
           'lisp_define params
           (lambda (reply)
             (when (buffer-live-p buffer)
               (with-current-buffer buffer (setq redis-ai-lisp-name name)))
             (redis-ai-lisp--defined name reply))
           (lambda (text) (redis-ai-lisp--refused buffer beg text)))
      (message "redis-ai: defining %s..." name))))

;;; Show

(defun redis-ai-lisp--source-mode ()
  "Turn on the modes for a program's source: `lisp-data-mode' (Emacs 28+)."
  (if (fboundp 'lisp-data-mode)
      (lisp-data-mode)
    (lisp-mode))
  (redis-ai-lisp-mode 1))

(defun redis-ai-lisp--shown (name reply &optional kind)
  "Open program NAME's source from REPLY in a buffer; remember its KIND."
  (let ((buffer (get-buffer-create (format "*redis-ai lisp: %s*" name)))
        (source (alist-get 'source reply)))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (if (stringp source) source ""))
        (redis-ai-lisp--source-mode)
        (setq redis-ai-lisp-name name)
        (when (member kind redis-ai-lisp-kinds)
          (setq redis-ai-lisp--kind kind))
        (set-buffer-modified-p nil)
        (goto-char (point-min))))
    (pop-to-buffer buffer)))

;;;###autoload
(defun redis-ai-lisp-show (name &optional kind)
  "Open the source of the stored program NAME in a buffer.
KIND, when known, is used when the buffer is defined again without a
header.  `redis-ai-lisp-define' in that buffer stores it back."
  (interactive (list (redis-ai-lisp--read-name "Show program")))
  (redis-ai-lisp--call 'lisp_show `((name . ,name))
                       (lambda (reply) (redis-ai-lisp--shown name reply kind))))

;;; List

(defun redis-ai-lisp--entry (program)
  "Return the `tabulated-list-entries' entry of PROGRAM, a map of `lisp_list'."
  (let ((name (alist-get 'name program))
        (string (lambda (value) (if (stringp value) value "")))
        (strings (lambda (value)
                   (string-join (seq-filter #'stringp (append value nil)) ","))))
    (list name
          (vector (funcall string name)
                  (format "%s" (alist-get 'version program))
                  (if (eq (alist-get 'analyzer program) t)
                      (funcall string (alist-get 'kind program))
                    "helper")
                  (let ((languages (funcall strings (alist-get 'languages program))))
                    (if (string= languages "") "all" languages))
                  (funcall strings (alist-get 'requires program))
                  (let ((updated (alist-get 'updated program)))
                    (if (numberp updated)
                        (format-time-string "%Y-%m-%d %H:%M" (seconds-to-time updated))
                      ""))
                  (funcall string (alist-get 'description program))))))

(defun redis-ai-lisp-list-entries (reply)
  "Return the `tabulated-list-entries' for REPLY to `lisp_list'.
Programs without a string name are left out."
  (mapcar #'redis-ai-lisp--entry
          (seq-filter (lambda (program)
                        (and (consp program) (stringp (alist-get 'name program))))
                      (append (alist-get 'programs reply) nil))))

(defvar redis-ai-lisp-list-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "RET") #'redis-ai-lisp-list-open)
    (define-key map "d" #'redis-ai-lisp-list-remove)
    map)
  "Keymap of `redis-ai-lisp-list-mode'.")

(define-derived-mode redis-ai-lisp-list-mode tabulated-list-mode "RAI Lisp"
  "The stored Lisp programs of the redis-ai daemon.
\\<redis-ai-lisp-list-mode-map>\\[redis-ai-lisp-list-open] opens a program's source, \
\\[redis-ai-lisp-list-remove] removes it, \\[revert-buffer] refreshes the list."
  (setq tabulated-list-format [("Name" 20 t) ("Version" 7 nil) ("Kind" 11 t)
                               ("Languages" 14 t) ("Requires" 16 t) ("Updated" 16 t)
                               ("Description" 0 nil)]
        tabulated-list-sort-key '("Name" . nil))
  (add-hook 'tabulated-list-revert-hook #'redis-ai-lisp--refresh nil t)
  (tabulated-list-init-header))

(defconst redis-ai-lisp-list-buffer "*redis-ai lisp programs*"
  "Name of the buffer of `redis-ai-lisp-list'.")

(defun redis-ai-lisp--listed (reply)
  "Fill the list buffer with the programs of REPLY."
  (let ((buffer (get-buffer redis-ai-lisp-list-buffer)))
    (when (buffer-live-p buffer)
      (with-current-buffer buffer
        (setq tabulated-list-entries (redis-ai-lisp-list-entries reply))
        (tabulated-list-print t)
        (message "redis-ai: %d Lisp programs" (length tabulated-list-entries))))))

(defun redis-ai-lisp--refresh ()
  "Ask the daemon for the programs; the list is redrawn when it answers."
  (redis-ai-lisp--call 'lisp_list nil #'redis-ai-lisp--listed))

;;;###autoload
(defun redis-ai-lisp-list ()
  "List the Lisp programs stored for the daemon's analyzers.
In the list, RET opens a program's source, `d' removes it and `g'
refreshes."
  (interactive)
  (let ((buffer (get-buffer-create redis-ai-lisp-list-buffer)))
    (with-current-buffer buffer
      (unless (derived-mode-p 'redis-ai-lisp-list-mode)
        (redis-ai-lisp-list-mode)))
    (pop-to-buffer buffer)
    (redis-ai-lisp--refresh)))

(defun redis-ai-lisp--list-name ()
  "Return the name of the program on the current line, or signal an error."
  (or (tabulated-list-get-id) (user-error "No program on this line")))

(defun redis-ai-lisp-list-open ()
  "Open the source of the program on this line."
  (interactive)
  (let* ((name (redis-ai-lisp--list-name))
         (kind (aref (tabulated-list-get-entry) 2)))
    (redis-ai-lisp-show name kind)))

(defun redis-ai-lisp-list-remove ()
  "Remove the program on this line from Redis, after confirmation."
  (interactive)
  (let ((name (redis-ai-lisp--list-name)))
    (when (yes-or-no-p (format "Remove the Lisp program %s? " name))
      (redis-ai-lisp--call
       'lisp_remove `((name . ,name))
       (lambda (reply)
         (let ((users (seq-filter #'stringp (append (alist-get 'required_by reply) nil))))
           (message "redis-ai: %s%s" (if (eq (alist-get 'removed reply) t)
                                         (format "removed %s" name)
                                       (format "no program named %s" name))
                    (if users
                        (format " (%s require it and will fail to load)"
                                (string-join users ", "))
                      "")))
         (redis-ai-lisp--refresh))))))

;;; Run

(defconst redis-ai-lisp-run-buffer "*redis-ai lisp run*"
  "Name of the buffer listing the items of `redis-ai-lisp-run'.")

(defun redis-ai-lisp-run-lines (where reply)
  "Return the lines that show the items of REPLY, found in WHERE.
WHERE names the buffer or file run on; columns are shown 1-based."
  (let (lines)
    (dolist (item (append (alist-get 'items reply) nil))
      (when (and (consp item) (integerp (alist-get 'line item)))
        (let ((col (alist-get 'col item)))
          (push (format "%s:%d:%d: %s: %s [%s]" where (alist-get 'line item)
                        (1+ (if (integerp col) col 0))
                        (let ((severity (alist-get 'severity item)))
                          (if (stringp severity) severity "hint"))
                        (let ((text (alist-get 'message item)))
                          (if (stringp text) text ""))
                        (let ((code (alist-get 'code item)))
                          (if (stringp code) code "")))
                lines))))
    (nreverse lines)))

(defun redis-ai-lisp--ran (name where reply)
  "Show the items of REPLY from program NAME run on WHERE."
  (let ((buffer (get-buffer-create redis-ai-lisp-run-buffer))
        (lines (redis-ai-lisp-run-lines where reply))
        (error-text (alist-get 'error reply)))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert (format "redis-ai lisp run %s on %s: %d items in %s steps\n\n"
                        name where (length lines) (alist-get 'steps reply)))
        (dolist (line lines) (insert line "\n")))
      (require 'compile)
      (compilation-mode)
      (goto-char (point-min)))
    (display-buffer buffer)
    (message "redis-ai: %s gave %d items%s" name (length lines)
             (if (stringp error-text) (format "; it failed: %s" error-text) ""))))

;;;###autoload
(defun redis-ai-lisp-run (name target)
  "Run the stored program NAME on the buffer TARGET and list its items.
NAME is the current buffer's program; with a prefix argument it is
read.  TARGET is read, by default the other buffer.  The program runs
on all of TARGET's text, with the cursor at TARGET's point, as the
daemon's analyzers would run it; define it first."
  (interactive
   (list (if (or current-prefix-arg (not (redis-ai-lisp-default-name)))
             (redis-ai-lisp--read-name "Run program")
           (redis-ai-lisp-default-name))
         (get-buffer (read-buffer "Run it on buffer: "
                                  (other-buffer (current-buffer) t) t))))
  (with-current-buffer target
    (let ((where (or buffer-file-name (buffer-name))))
      (redis-ai-lisp--call
       'lisp_run `((name . ,name)
                   (text . ,(save-restriction
                              (widen)
                              (buffer-substring-no-properties (point-min) (point-max))))
                   (file . ,(or buffer-file-name ""))
                   (line . ,(save-restriction (widen) (line-number-at-pos))))
       (lambda (reply) (redis-ai-lisp--ran name where reply))))))

;;; Evolve

(defcustom redis-ai-lisp-evolve-model ""
  "The registry model `redis-ai-lisp-evolve' asks; empty: the best ranked.
The daemon picks among the models with the capability `lisp'."
  :type 'string
  :group 'redis-ai)

(defcustom redis-ai-lisp-evolve-generations 5
  "How many candidates `redis-ai-lisp-evolve' lets the daemon try."
  :type 'integer
  :group 'redis-ai)

(defconst redis-ai-lisp-examples-buffer "*redis-ai lisp examples*"
  "Name of the buffer that shows the pending examples.")

(defconst redis-ai-lisp-evolve-buffer "*redis-ai lisp evolve*"
  "Name of the buffer that shows the outcome of `redis-ai-lisp-evolve'.")

(defvar redis-ai-lisp-examples nil
  "The examples the next `redis-ai-lisp-evolve' sends, newest first.
Each is an alist: `text', `flag' (t: must be flagged, nil: must not),
`file', `language' and `origin' (where it was taken, for the list).")

(defvar redis-ai-lisp--jobs (make-hash-table :test #'equal)
  "The evolutions running in the daemon: job id -> (NAME . REQUEST).")

(defvar redis-ai-lisp--evolve-name nil
  "The name last given to `redis-ai-lisp-evolve'.")

(defvar redis-ai-lisp--request-history nil
  "Requests given to `redis-ai-lisp-evolve'.")

(defun redis-ai-lisp-example-flag (beg end)
  "Add the region from BEG to END (or the buffer) as code that must be flagged.
It joins `redis-ai-lisp-examples', shown in a small buffer, for the
next `redis-ai-lisp-evolve'."
  (interactive (redis-ai-lisp--example-bounds))
  (redis-ai-lisp--add-example beg end t))

(defun redis-ai-lisp-example-ok (beg end)
  "Add the region from BEG to END (or the buffer) as code that must not be flagged.
It joins `redis-ai-lisp-examples' for the next `redis-ai-lisp-evolve'."
  (interactive (redis-ai-lisp--example-bounds))
  (redis-ai-lisp--add-example beg end nil))

(defun redis-ai-lisp--example-bounds ()
  "Return the region's bounds when it is active, else the buffer's."
  (if (use-region-p)
      (list (region-beginning) (region-end))
    (list (point-min) (point-max))))

(defun redis-ai-lisp--add-example (beg end flag)
  "Add the text from BEG to END as an example; FLAG non-nil: must be flagged."
  (let ((text (buffer-substring-no-properties beg end)))
    (when (string-blank-p text)
      (user-error "Nothing to add: the text is blank"))
    (push `((text . ,text)
            (flag . ,(if flag t :false))
            (file . ,(or buffer-file-name ""))
            (language . ,(symbol-name major-mode))
            (origin . ,(format "%s:%d-%d" (buffer-name) (line-number-at-pos beg)
                               (line-number-at-pos (max beg (1- end))))))
          redis-ai-lisp-examples)
    (deactivate-mark)
    (redis-ai-lisp-examples)
    (message "redis-ai: %d examples (%d must be flagged); M-x redis-ai-lisp-evolve sends them"
             (length redis-ai-lisp-examples)
             (seq-count (lambda (e) (eq (alist-get 'flag e) t)) redis-ai-lisp-examples))))

(defun redis-ai-lisp--example-lines ()
  "Return the lines that list the pending examples, oldest first."
  (let ((n 0))
    (mapcar (lambda (example)
              (setq n (1+ n))
              (let ((text (alist-get 'text example)))
                (format "%2d %-9s %-28s %s" n
                        (if (eq (alist-get 'flag example) t) "flag" "ok")
                        (alist-get 'origin example)
                        (truncate-string-to-width
                         (replace-regexp-in-string "\n" "\\\\n" (string-trim text))
                         60 nil nil "..."))))
            (reverse redis-ai-lisp-examples))))

(defvar redis-ai-lisp-examples-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map "k" #'redis-ai-lisp-examples-remove)
    (define-key map "C" #'redis-ai-lisp-examples-clear)
    (define-key map "E" #'redis-ai-lisp-evolve)
    map)
  "Keymap of `redis-ai-lisp-examples-mode'.")

(define-derived-mode redis-ai-lisp-examples-mode special-mode "RAI Examples"
  "The examples the next `redis-ai-lisp-evolve' sends.
\\<redis-ai-lisp-examples-mode-map>
\\[redis-ai-lisp-examples-remove] removes the example on this line,
\\[redis-ai-lisp-examples-clear] removes them all,
\\[redis-ai-lisp-evolve] evolves a program from them.")

(defun redis-ai-lisp-examples ()
  "Show the pending examples of `redis-ai-lisp-evolve' in a small buffer."
  (interactive)
  (let ((buffer (get-buffer-create redis-ai-lisp-examples-buffer)))
    (with-current-buffer buffer
      (unless (derived-mode-p 'redis-ai-lisp-examples-mode)
        (redis-ai-lisp-examples-mode))
      (let ((inhibit-read-only t)
            (line (line-number-at-pos)))
        (erase-buffer)
        (insert (format "Examples for M-x redis-ai-lisp-evolve: %d (flag: must be flagged, ok: must not)\n"
                        (length redis-ai-lisp-examples)))
        (dolist (text (redis-ai-lisp--example-lines)) (insert text "\n"))
        (goto-char (point-min))
        (forward-line (1- line))))
    (display-buffer buffer)))

(defun redis-ai-lisp-examples-remove ()
  "Remove the example on this line of the examples buffer."
  (interactive)
  (let ((n (1- (line-number-at-pos))))
    (unless (<= 1 n (length redis-ai-lisp-examples))
      (user-error "No example on this line"))
    (setq redis-ai-lisp-examples
          (let ((oldest (reverse redis-ai-lisp-examples)))
            (reverse (append (seq-take oldest (1- n)) (nthcdr n oldest)))))
    (redis-ai-lisp-examples)))

(defun redis-ai-lisp-examples-clear ()
  "Forget every pending example, after confirmation."
  (interactive)
  (when (or (null redis-ai-lisp-examples)
            (yes-or-no-p (format "Forget the %d examples? " (length redis-ai-lisp-examples))))
    (setq redis-ai-lisp-examples nil)
    (redis-ai-lisp-examples)))

(defun redis-ai-lisp-evolve-params (name request offline)
  "Return the params of `lisp_evolve' for NAME and REQUEST and the examples.
OFFLINE non-nil: the daemon's search over variants, no model."
  `((name . ,name)
    (request . ,request)
    (examples . ,(vconcat (mapcar (lambda (example)
                                    (seq-filter (lambda (pair) (not (eq (car pair) 'origin)))
                                                example))
                                  (reverse redis-ai-lisp-examples))))
    (offline . ,(if offline t :false))
    (generations . ,redis-ai-lisp-evolve-generations)
    ,@(and (not offline) (not (string-empty-p redis-ai-lisp-evolve-model))
           `((model . ,redis-ai-lisp-evolve-model)))))

;;;###autoload
(defun redis-ai-lisp-evolve (name request &optional offline)
  "Have the daemon write the analyzer NAME from REQUEST, in plain words.
The examples are those added by `redis-ai-lisp-example-flag' and
`redis-ai-lisp-example-ok' (see `redis-ai-lisp-examples'): code
that must be flagged and code that must not.  A model (with a
prefix argument, OFFLINE: the daemon's search over program variants)
writes candidates; the one that passes held-out examples goes live as
NAME's next version.  The outcome shows in a buffer when it is done;
Emacs goes on meanwhile, and never evaluates the program it shows."
  (interactive
   (progn
     (unless (and (seq-some (lambda (e) (eq (alist-get 'flag e) t)) redis-ai-lisp-examples)
                  (seq-some (lambda (e) (not (eq (alist-get 'flag e) t))) redis-ai-lisp-examples))
       (user-error "Add examples first: code that must be flagged (%s) and code that must not (%s)"
                   "M-x redis-ai-lisp-example-flag" "M-x redis-ai-lisp-example-ok"))
     (let* ((default redis-ai-lisp--evolve-name)
            (name (read-string (if default (format "Evolve program (default %s): " default)
                                 "Evolve program: ")
                               nil 'redis-ai-lisp-name-history default))
            (request (read-string "Flag what, in plain words: " nil
                                  'redis-ai-lisp--request-history)))
       (list (string-trim name) request current-prefix-arg))))
  (when (string-blank-p name)
    (user-error "No program name"))
  (setq redis-ai-lisp--evolve-name name)
  (add-hook 'redis-ai-push-functions #'redis-ai-lisp--on-push)
  (when (redis-ai-lisp--call
         'lisp_evolve (redis-ai-lisp-evolve-params name request offline)
         (lambda (reply)
           (let ((job (alist-get 'job reply)))
             (when (stringp job)
               (puthash job (cons name request) redis-ai-lisp--jobs)))))
    (message "redis-ai: evolving %s from %d examples%s..." name
             (length redis-ai-lisp-examples) (if offline " (offline)" ""))))

(defun redis-ai-lisp--on-push (push)
  "Take PUSH when it is about one of our evolutions."
  (when (equal (alist-get 'type push) "lisp_evolve")
    (let* ((job (alist-get 'job push))
           (asked (gethash job redis-ai-lisp--jobs)))
      (when asked
        (pcase (alist-get 'state push)
          ("progress"
           (message "redis-ai: evolving %s: generation %s of %s" (car asked)
                    (alist-get 'generation push) (alist-get 'generations push)))
          ("done"
           (remhash job redis-ai-lisp--jobs)
           (redis-ai-lisp--evolved (cdr asked) push))
          ("failed"
           (remhash job redis-ai-lisp--jobs)
           (message "redis-ai: evolving %s failed: %s" (car asked)
                    (alist-get 'message push))))))))

(defun redis-ai-lisp--scores (scores)
  "Return SCORES, a map of precision, recall and errors, as text."
  (if (consp scores)
      (format "P=%s R=%s errors=%s" (alist-get 'precision scores)
              (alist-get 'recall scores) (alist-get 'errors scores))
    "-"))

(defun redis-ai-lisp-evolve-lines (request outcome)
  "Return the lines that show OUTCOME, the daemon's answer to REQUEST."
  (let* ((name (alist-get 'name outcome))
         (live (eq (alist-get 'live outcome) t))
         (winner (alist-get 'winner outcome))
         (text (lambda (value) (if (stringp value) value (format "%s" value))))
         (lines
          (list (if live
                    (format "redis-ai evolve %s: live as version %s" name
                            (alist-get 'version outcome))
                  (format "redis-ai evolve %s: not live: %s" name
                          (funcall text (alist-get 'why outcome))))
                (format "request: %s" request)
                (format "examples: %s training, %s held out; author %s; %s generations, %s tokens, %s s"
                        (alist-get 'train_examples outcome) (alist-get 'held_out_examples outcome)
                        (alist-get 'author outcome) (alist-get 'generations outcome)
                        (alist-get 'tokens outcome) (alist-get 'seconds outcome)))))
    (when (stringp (alist-get 'lineage outcome))
      (setq lines (append lines (list (concat "lineage: " (alist-get 'lineage outcome))))))
    (setq lines (append lines (list "")))
    (dolist (cand (append (alist-get 'candidates outcome) nil))
      (when (consp cand)
        (setq lines
              (append lines
                      (list (format "gen %s (%s): train %s; held-out %s%s"
                                    (alist-get 'generation cand)
                                    (funcall text (alist-get 'model cand))
                                    (redis-ai-lisp--scores (alist-get 'train cand))
                                    (redis-ai-lisp--scores (alist-get 'held_out cand))
                                    (if (eq (alist-get 'live cand) t) " -> live" "")))))))
    (when (and (consp winner) (stringp (alist-get 'source winner)))
      (setq lines (append lines (list "" "The winner (shown, not run here):")
                          (split-string (alist-get 'source winner) "\n"))))
    lines))

(defun redis-ai-lisp--evolved (request outcome)
  "Show OUTCOME of evolving from REQUEST in its buffer, and say it in a message."
  (let ((buffer (get-buffer-create redis-ai-lisp-evolve-buffer))
        (lines (redis-ai-lisp-evolve-lines request outcome)))
    (with-current-buffer buffer
      (let ((inhibit-read-only t))
        (erase-buffer)
        (dolist (line lines) (insert line "\n"))
        (special-mode)
        (goto-char (point-min))))
    (display-buffer buffer)
    (message "%s" (car lines))))

;;; Mode

(defvar redis-ai-lisp-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map "L" #'redis-ai-lisp-define)
    (define-key map "P" #'redis-ai-lisp-list)
    (define-key map "R" #'redis-ai-lisp-run)
    (define-key map "E" #'redis-ai-lisp-evolve)
    (define-key map "+" #'redis-ai-lisp-example-flag)
    (define-key map "-" #'redis-ai-lisp-example-ok)
    (define-key map "X" #'redis-ai-lisp-examples)
    map)
  "Keymap of the Lisp program commands, under the redis-ai key prefix.")

(defvar redis-ai-lisp-mode-map
  (let ((map (make-sparse-keymap)))
    ;; The prefix of `redis-ai-mode' when redis-ai.el is loaded first.
    (define-key map (kbd (if (bound-and-true-p redis-ai-keymap-prefix)
                             redis-ai-keymap-prefix
                           "C-c r"))
      redis-ai-lisp-command-map)
    map)
  "Keymap of `redis-ai-lisp-mode'.")

;;;###autoload
(define-minor-mode redis-ai-lisp-mode
  "Bind the commands that store and try redis-ai Lisp programs.

For the buffers where programs are written; it sends nothing as you
type, unlike `redis-ai-mode'.  Turning it on connects to the daemon,
so that the first command finds the connection up.

\\{redis-ai-lisp-mode-map}"
  :lighter " RAI-Lisp"
  :keymap redis-ai-lisp-mode-map
  :group 'redis-ai
  (when redis-ai-lisp-mode
    (redis-ai-connection-ensure)))

(provide 'redis-ai-lisp)
;;; redis-ai-lisp.el ends here
