;;; redis-ai.el --- AI coding companion with Redis as its backend  -*- lexical-binding: t; -*-

;; Copyright (C) 2026 The redis-ai authors

;; Author: The redis-ai authors
;; Version: 0.1.0
;; Package-Requires: ((emacs "27.1") (epc "0.1.1") (flymake "1.2.1"))
;; Keywords: tools, convenience, languages

;; This file is not part of GNU Emacs.

;; This program is free software; you can redistribute it and/or modify
;; it under the terms of the MIT license; see the LICENSE file of the
;; redis-ai repository.

;;; Commentary:

;; `redis-ai-mode' sends what you do in a buffer to the local redis-ai
;; daemon and shows what its analyzers find: completions as ghost text
;; at point, diagnostics through Flymake (with the fixes you can apply,
;; checked by the daemon), hints and generated tests as annotations you
;; can open.  `global-redis-ai-mode' turns it on in every programming
;; buffer.
;;
;; Typing never waits for the daemon.  Each command only records that
;; the buffer changed (a few variable assignments); a timer sends one
;; event per buffer once typing pauses for `redis-ai-debounce' seconds,
;; and results are drawn when they arrive, if they still match the
;; buffer.  Key sequences in `redis-ai-intent-keys' (by default C-c C-c)
;; and saving send at once, with an intent that asks for a full analysis.
;;
;; Commands live under `redis-ai-keymap-prefix' (C-c r by default):
;;
;;   C-c r a   accept the suggestion        C-c r r   analyze now
;;   C-c r w   accept its next word         C-c r s   daemon status
;;   C-c r l   accept its next line         C-c r o   open an annotation
;;   C-c r n   next suggestion              C-c r t   generate tests
;;   C-c r d   dismiss it                   C-c r c   reconnect
;;   C-c r p   previous suggestion          C-c r D   diagnose (bug reports)
;;   C-c r L   define a Lisp program        C-c r S   search code by meaning
;;   C-c r P   list the Lisp programs      C-c r f   fix the diagnostic at point
;;   C-c r E   evolve a Lisp program       C-c r F   apply every fix offered
;;   C-c r +   region: must be flagged     C-c r -   region: must not be
;;   C-c r X   the examples for C-c r E
;;   C-c r j   jump to the next edit       C-c r e   apply the next edit
;;
;; While ghost text shows, TAB accepts it, M-<right> accepts a word,
;; M-<down> the rest of its line, and M-n / M-p cycle (see
;; `redis-ai-ghost-map').  At the start of a next-edit suggestion
;; (after C-c r j), TAB applies it (see `redis-ai-next-edit-map').

;;; Code:

(defgroup redis-ai nil
  "AI coding companion with Redis as its whole backend."
  :group 'tools
  :prefix "redis-ai-")

(require 'redis-ai-connection)
(require 'redis-ai-overlay)
(require 'redis-ai-flymake)
(require 'redis-ai-fix)
(require 'redis-ai-next-edit)
(autoload 'redis-ai-search "redis-ai-search" nil t)
(autoload 'redis-ai-lisp-define "redis-ai-lisp" nil t)
(autoload 'redis-ai-lisp-list "redis-ai-lisp" nil t)
(autoload 'redis-ai-lisp-mode "redis-ai-lisp" nil t)
(autoload 'redis-ai-lisp-evolve "redis-ai-lisp" nil t)
(autoload 'redis-ai-lisp-example-flag "redis-ai-lisp" nil t)
(autoload 'redis-ai-lisp-example-ok "redis-ai-lisp" nil t)
(autoload 'redis-ai-lisp-examples "redis-ai-lisp" nil t)
(require 'seq)
(require 'subr-x)

;;; Customization

(defcustom redis-ai-debounce 0.1
  "Seconds of pause in typing after which the buffer is sent to the daemon."
  :type 'number
  :group 'redis-ai)

(defcustom redis-ai-max-wait 0.6
  "Seconds of typing without a pause after which the buffer is sent anyway."
  :type 'number
  :group 'redis-ai)

(defcustom redis-ai-whole-buffer-limit (* 256 1024)
  "Largest buffer, in bytes, sent whole; larger ones send a window around point."
  :type 'integer
  :group 'redis-ai)

(defcustom redis-ai-window-lines 200
  "Number of lines around point sent when the buffer is too large to send whole."
  :type 'integer
  :group 'redis-ai)

(defcustom redis-ai-intent-keys '(("C-c C-c" . "execute_code"))
  "Key sequences that send at once, with the intent they stand for.
Each entry is (KEYS . INTENT) where KEYS is in `kbd' notation.  The
keys keep their own binding: redis-ai only observes them."
  :type '(alist :key-type (string :tag "Keys")
                :value-type (choice (const "execute_code")
                                    (const "request")
                                    (const "save")
                                    (const "edit")
                                    (string :tag "Other intent")))
  :group 'redis-ai)

(defcustom redis-ai-send-on-save t
  "Non-nil means saving a buffer sends it with the intent `save'."
  :type 'boolean
  :group 'redis-ai)

(defcustom redis-ai-send-cursor-moves t
  "Non-nil means moving point without editing sends an event too.
Completions are computed at point, so this refreshes them."
  :type 'boolean
  :group 'redis-ai)

(defcustom redis-ai-enable-flymake t
  "Non-nil means `redis-ai-mode' shows diagnostics through Flymake."
  :type 'boolean
  :group 'redis-ai)

(defcustom redis-ai-global-modes '(prog-mode)
  "Major modes (and their derived modes) where `global-redis-ai-mode' turns on."
  :type '(repeat symbol)
  :group 'redis-ai)

(defcustom redis-ai-daemon-command '("redis-ai" "daemon")
  "Command line that `redis-ai-start-daemon' runs.
A program named just \"redis-ai\" is the one of the checkout this
plugin is loaded from, .venv/bin/redis-ai (what `make run' installs),
when there is one, else the one found on the variable `exec-path'."
  :type '(repeat string)
  :group 'redis-ai)

(defconst redis-ai--checkout-program
  (expand-file-name "../.venv/bin/redis-ai"
                    (file-name-directory (or load-file-name buffer-file-name "")))
  "Where the checkout holding this file keeps its redis-ai command.")

(defvar redis-ai-mode-map)
(defvar redis-ai-mode)

(defun redis-ai--set-prefix (symbol value)
  "Set SYMBOL to VALUE and bind the command map under that key prefix."
  (when (and (boundp 'redis-ai-mode-map) (boundp symbol) (symbol-value symbol))
    (define-key redis-ai-mode-map (kbd (symbol-value symbol)) nil))
  (set-default symbol value)
  (when (and (boundp 'redis-ai-mode-map) value)
    (define-key redis-ai-mode-map (kbd value) 'redis-ai-command-map)))

(defcustom redis-ai-keymap-prefix "C-c r"
  "Key prefix of the redis-ai commands in `redis-ai-mode'."
  :type 'string
  :set #'redis-ai--set-prefix
  :group 'redis-ai)

(defvar redis-ai-result-functions nil
  "Abnormal hook run with each result push taken by a buffer, in that buffer.
Its second argument is non-nil if the result was shown, nil if dropped.")

(defvar redis-ai-event-functions nil
  "Abnormal hook run with each event sent, in its buffer, after sending it.")

;;; Keymaps

(defvar redis-ai-command-map
  (let ((map (make-sparse-keymap)))
    (define-key map "a" #'redis-ai-accept)
    (define-key map "w" #'redis-ai-accept-word)
    (define-key map "l" #'redis-ai-accept-line)
    (define-key map "n" #'redis-ai-next)
    (define-key map "p" #'redis-ai-previous)
    (define-key map "d" #'redis-ai-dismiss)
    (define-key map "r" #'redis-ai-analyze)
    (define-key map "s" #'redis-ai-status)
    (define-key map "o" #'redis-ai-open-annotation)
    (define-key map "t" #'redis-ai-generate-tests)
    (define-key map "c" #'redis-ai-reconnect)
    (define-key map "D" #'redis-ai-diagnose)
    (define-key map "S" #'redis-ai-search)
    (define-key map "L" #'redis-ai-lisp-define)
    (define-key map "P" #'redis-ai-lisp-list)
    (define-key map "E" #'redis-ai-lisp-evolve)
    (define-key map "+" #'redis-ai-lisp-example-flag)
    (define-key map "-" #'redis-ai-lisp-example-ok)
    (define-key map "X" #'redis-ai-lisp-examples)
    (define-key map "f" #'redis-ai-fix)
    (define-key map "F" #'redis-ai-fix-all)
    (define-key map "j" #'redis-ai-next-edit-jump)
    (define-key map "e" #'redis-ai-next-edit-accept)
    map)
  "Keymap of the redis-ai commands, under `redis-ai-keymap-prefix'.")
(fset 'redis-ai-command-map redis-ai-command-map)

(defvar redis-ai-mode-map
  (let ((map (make-sparse-keymap)))
    (when redis-ai-keymap-prefix
      (define-key map (kbd redis-ai-keymap-prefix) 'redis-ai-command-map))
    map)
  "Keymap of `redis-ai-mode'.")

(defvar redis-ai-ghost-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "TAB") #'redis-ai-accept)
    (define-key map (kbd "<tab>") #'redis-ai-accept)
    (define-key map (kbd "M-<right>") #'redis-ai-accept-word)
    (define-key map (kbd "M-<down>") #'redis-ai-accept-line)
    (define-key map (kbd "M-n") #'redis-ai-next)
    (define-key map (kbd "M-p") #'redis-ai-previous)
    map)
  "Keymap active while ghost text is shown.")

(defvar-local redis-ai--ghost-active nil
  "Non-nil while ghost text is shown, which activates `redis-ai-ghost-map'.")

(defvar redis-ai--emulation-alist `((redis-ai--ghost-active . ,redis-ai-ghost-map))
  "Entry of `emulation-mode-map-alists' for `redis-ai-ghost-map'.")

;;; Recording (runs on every command: keep it cheap)

(defvar-local redis-ai--seen-tick 0
  "Change tick of the buffer after the previous command.")

(defvar-local redis-ai--seen-point 0
  "Point after the previous command.")

(defvar-local redis-ai--pending nil
  "Intent of the event waiting to be sent from this buffer, or nil.")

(defvar-local redis-ai--pending-keys nil
  "Keys of the latest command recorded in this buffer.")

(defvar-local redis-ai--pending-command nil
  "The latest command recorded in this buffer.")

(defvar-local redis-ai--pending-analyzers nil
  "Analyzers the waiting event is for (all when nil).")

(defvar-local redis-ai--last-record 0.0
  "Time of the latest command recorded in this buffer.")

(defvar-local redis-ai--first-record 0.0
  "Time of the first command recorded in this buffer since its last send.")

(defvar redis-ai--dirty-buffers nil
  "Buffers with an event waiting to be sent.")

(defvar-local redis-ai--buffer-id nil
  "The id of this buffer in events and results: its name and a serial number.
Emacs reuses the names of killed buffers; the daemon must not take a
new buffer for an old one whose change tick was higher.")

(put 'redis-ai--buffer-id 'permanent-local t)

(defvar redis-ai--buffer-serial 0
  "Serial number of the latest buffer id given out.")

(defvar redis-ai--buffers (make-hash-table :test 'equal)
  "Buffers in `redis-ai-mode' by their id.")

(defvar redis-ai--send-timer nil
  "Timer that sends the events of `redis-ai--dirty-buffers'.")

(defvar-local redis-ai--key-intent nil
  "(INTENT . KEYS) of the command running, if its keys stand for an intent.")

(defvar redis-ai--intent-keys-cache nil
  "`redis-ai-intent-keys' parsed: (ALIST ((VECTOR . INTENT) ...) LAST-EVENTS).")

(defconst redis-ai--intent-rank
  '(("cursor" . 0) ("edit" . 1) ("save" . 2) ("execute_code" . 3) ("request" . 4))
  "Which intent wins when several are recorded before one send.")

(defconst redis-ai--own-commands
  '(redis-ai-accept redis-ai-accept-word redis-ai-accept-line
                    redis-ai-next redis-ai-previous)
  "Commands that keep the ghost text although they move point.")

(defun redis-ai--intent-keys ()
  "Return `redis-ai-intent-keys' parsed, as a list (ENTRIES LAST-EVENTS).
ENTRIES are (KEY-VECTOR . INTENT); LAST-EVENTS the events that end them."
  (unless (eq (car redis-ai--intent-keys-cache) redis-ai-intent-keys)
    (let ((entries (mapcar (lambda (entry) (cons (vconcat (kbd (car entry))) (cdr entry)))
                           redis-ai-intent-keys)))
      (setq redis-ai--intent-keys-cache
            (list redis-ai-intent-keys entries
                  (mapcar (lambda (entry) (aref (car entry) (1- (length (car entry)))))
                          entries)))))
  (cdr redis-ai--intent-keys-cache))

(defun redis-ai--pre-command ()
  "Note whether the keys of the command about to run stand for an intent.
This is done before the command, whose error would lose its keys."
  (let ((parsed (redis-ai--intent-keys)))
    (when (memq last-command-event (nth 1 parsed))
      (let ((keys (this-command-keys-vector)))
        (setq redis-ai--key-intent
              (seq-some (lambda (entry)
                          (and (equal (car entry) keys) (cons (cdr entry) keys)))
                        (car parsed)))))))

(defun redis-ai--stronger (a b)
  "Return the intent, A or B, that should be sent."
  (if (and b (> (or (cdr (assoc b redis-ai--intent-rank)) 1)
                (or (cdr (assoc a redis-ai--intent-rank)) 1)))
      b
    a))

(defun redis-ai--post-command ()
  "Record what the command that just ran did; send nothing now."
  (let ((tick (buffer-chars-modified-tick))
        (pt (point))
        intent)
    (when redis-ai--ghost
      (redis-ai--follow-ghost tick pt))
    (cond
     ((setq intent redis-ai--key-intent)
      (setq redis-ai--key-intent nil)
      (redis-ai--record (car intent) (cdr intent))
      (redis-ai--send-now))
     ((/= tick redis-ai--seen-tick) (redis-ai--record "edit"))
     ((and redis-ai-send-cursor-moves (/= pt redis-ai--seen-point))
      (redis-ai--record "cursor")))
    (setq redis-ai--seen-tick tick
          redis-ai--seen-point pt)))

(defun redis-ai--record (intent &optional keys)
  "Note that this buffer has an event with INTENT to send, typed with KEYS."
  (unless redis-ai--pending
    (setq redis-ai--first-record (float-time)))
  (setq redis-ai--pending (redis-ai--stronger intent redis-ai--pending)
        redis-ai--pending-keys (or keys (this-command-keys-vector))
        redis-ai--pending-command this-command
        redis-ai--last-record (float-time))
  (unless (memq (current-buffer) redis-ai--dirty-buffers)
    (push (current-buffer) redis-ai--dirty-buffers))
  (unless redis-ai--send-timer
    (redis-ai--arm-send-timer redis-ai-debounce)))

(defun redis-ai--after-save ()
  "Send the buffer with the intent `save'."
  (when redis-ai-send-on-save
    (redis-ai--record "save")
    (redis-ai--send-now)))

;;; Sending

(defun redis-ai--arm-send-timer (delay)
  "Run `redis-ai--send-due' in DELAY seconds."
  (when redis-ai--send-timer
    (cancel-timer redis-ai--send-timer))
  (setq redis-ai--send-timer (run-with-timer delay nil #'redis-ai--send-due)))

(defun redis-ai--send-due ()
  "Send the events of buffers whose typing has paused; wait for the others."
  (setq redis-ai--send-timer nil)
  (let ((now (float-time))
        (wait nil))
    (dolist (buffer redis-ai--dirty-buffers)
      (if (not (buffer-live-p buffer))
          (setq redis-ai--dirty-buffers (delq buffer redis-ai--dirty-buffers))
        (with-current-buffer buffer
          (let ((left (min (- (+ redis-ai--last-record redis-ai-debounce) now)
                           (- (+ redis-ai--first-record redis-ai-max-wait) now))))
            (if (> left 0)
                (setq wait (min left (or wait left)))
              (redis-ai--send-now))))))
    (when wait
      (redis-ai--arm-send-timer wait))))

(defun redis-ai--flush ()
  "Send what waits, when the connection can take it again."
  (when (and redis-ai--dirty-buffers (redis-ai-can-send-p))
    (redis-ai--arm-send-timer 0)))

(defun redis-ai--send-now ()
  "Send this buffer's pending event; keep it pending if it cannot go now."
  (when (and redis-ai--pending (redis-ai-can-send-p))
    (let ((event (redis-ai--event redis-ai--pending)))
      (when (and event (redis-ai-call 'event event))
        (setq redis-ai--pending nil
              redis-ai--pending-analyzers nil
              redis-ai--dirty-buffers (delq (current-buffer) redis-ai--dirty-buffers))
        (run-hook-with-args 'redis-ai-event-functions event)))))

(defun redis-ai--max-text ()
  "Return the largest text, in bytes, that may be sent."
  (min redis-ai-whole-buffer-limit
       (or (alist-get 'max_text (alist-get 'limits redis-ai--hello))
           redis-ai-whole-buffer-limit)))

(defun redis-ai-text-window ()
  "Return (TEXT FIRST-LINE WHOLE) to send for the current buffer.
The whole buffer when it is at most `redis-ai-whole-buffer-limit'
bytes, else `redis-ai-window-lines' lines around point."
  (save-restriction
    (widen)
    (let ((limit (redis-ai--max-text)))
      (if (<= (1- (position-bytes (point-max))) limit)
          (list (buffer-substring-no-properties (point-min) (point-max)) 1 t)
        (save-excursion
          (let* ((half (/ redis-ai-window-lines 2))
                 ;; A few very long lines must not make the window huge.
                 (floor (max (point-min) (- (point) (/ limit 8))))
                 (ceiling (min (point-max) (+ (point) (/ limit 8))))
                 (beg (progn (forward-line (- half))
                             (max floor (point))))
                 (end (progn (goto-char beg)
                             (forward-line redis-ai-window-lines)
                             (min ceiling (point)))))
            (list (buffer-substring-no-properties beg end)
                  (line-number-at-pos beg)
                  nil)))))))

(defun redis-ai--form-lines ()
  "Return [FIRST LAST], the lines of the region or of the top-level form at point."
  (save-excursion
    (save-restriction
      (widen)
      (if (use-region-p)
          (vector (line-number-at-pos (region-beginning))
                  (line-number-at-pos (max (region-beginning)
                                           (1- (region-end)))))
        (let* ((start (point))
               (beg (condition-case nil
                        (progn (end-of-line) (beginning-of-defun) (point))
                      (error nil)))
               (end (and beg (condition-case nil
                                 (progn (end-of-defun) (point))
                               (error nil)))))
          (if (and beg end (<= beg start) (<= start end))
              (vector (line-number-at-pos beg)
                      (line-number-at-pos (max beg (1- end))))
            (let ((line (line-number-at-pos start)))
              (vector line line))))))))

(defun redis-ai--event (intent)
  "Return the event (an alist) describing this buffer now, with INTENT."
  (let* ((window (redis-ai-text-window))
         (here (redis-ai-line-col))
         (command redis-ai--pending-command))
    `((v . 1)
      (editor . "emacs")
      (buffer . ,redis-ai--buffer-id)
      (file . ,(or buffer-file-name ""))
      (mode . ,(symbol-name major-mode))
      (line . ,(car here))
      (col . ,(cdr here))
      (keys . ,(if redis-ai--pending-keys
                   (key-description redis-ai--pending-keys)
                 ""))
      (command . ,(if (and command (symbolp command)) (symbol-name command) ""))
      (tick . ,(buffer-chars-modified-tick))
      (text . ,(nth 0 window))
      (first_line . ,(nth 1 window))
      ,@(and (nth 2 window) '((whole . t)))
      (intent . ,intent)
      ,@(and (member intent '("execute_code" "request"))
             `((region . ,(redis-ai--form-lines))))
      ,@(and redis-ai--pending-analyzers
             `((analyzers . ,(vconcat redis-ai--pending-analyzers))))
      (ts . ,(* 1000.0 (float-time))))))

;;; Results

(defvar-local redis-ai--candidates nil
  "Completions offered at point: a list of plists (:text :analyzer :result).")

(defvar-local redis-ai--candidate-index 0
  "Index in `redis-ai--candidates' of the completion shown.")

(defvar-local redis-ai--ghost-tick nil
  "Change tick of the buffer when the ghost text was drawn.")

(defvar-local redis-ai--dropped 0
  "Number of results this buffer dropped as stale.")

(defun redis-ai--on-push (push)
  "Route the daemon's PUSH to the buffer it is for."
  (when (equal (alist-get 'type push) "result")
    (let ((buffer (gethash (alist-get 'buffer push) redis-ai--buffers)))
      (when (and (buffer-live-p buffer) (buffer-local-value 'redis-ai-mode buffer))
        (with-current-buffer buffer
          (redis-ai--take-result push))))))

(defun redis-ai--take-result (result)
  "Show RESULT in the current buffer, unless it is stale."
  (let* ((tick (alist-get 'tick result))
         (shown
          (and (not (and (integerp tick) (< tick (buffer-chars-modified-tick))))
               (pcase (alist-get 'kind result)
                 ("completion" (redis-ai--take-completion result))
                 ("diagnostics"
                  (redis-ai-fix-update (alist-get 'analyzer result) tick
                                       (alist-get 'items result))
                  (when redis-ai-enable-flymake
                    (redis-ai-flymake-update (alist-get 'analyzer result)
                                             (alist-get 'items result))
                    t))
                 ("hints" (redis-ai-annotations-show result) t)
                 ("next_edit" (redis-ai-next-edit-take result))
                 ("tests" (redis-ai-annotations-show result)
                  (redis-ai--open-wanted-tests result)
                  t)))))
    (unless shown
      (setq redis-ai--dropped (1+ redis-ai--dropped)))
    (run-hook-with-args 'redis-ai-result-functions result shown)))

(defun redis-ai--take-completion (result)
  "Offer the completions of RESULT that are at point; return nil if none is."
  (let* ((analyzer (alist-get 'analyzer result))
         (here (redis-ai-line-col))
         (items (alist-get 'items result))
         (fresh (seq-filter
                 (lambda (item)
                   (and (eql (alist-get 'line item) (car here))
                        (eql (alist-get 'col item) (cdr here))
                        (stringp (alist-get 'text item))
                        (> (length (alist-get 'text item)) 0)))
                 items)))
    (when (or fresh (null items))
      (setq redis-ai--candidates
            (append (mapcar (lambda (item)
                              (list :text (alist-get 'text item)
                                    :analyzer analyzer
                                    :result (alist-get 'id result)))
                            fresh)
                    (seq-remove (lambda (c) (equal (plist-get c :analyzer) analyzer))
                                redis-ai--candidates))
            redis-ai--candidate-index 0)
      (redis-ai--show-candidate)
      t)))

(defun redis-ai--show-candidate ()
  "Draw the current candidate as ghost text at point, or clear the ghost.
The first time a suggestion is drawn, the daemon is told it was shown."
  (let ((candidate (nth redis-ai--candidate-index redis-ai--candidates)))
    (if (not candidate)
        (redis-ai--clear-ghost)
      (redis-ai-ghost-show (plist-get candidate :text))
      (setq redis-ai--ghost-tick (buffer-chars-modified-tick)
            redis-ai--ghost-active t)
      ;; What remains after typing or accepting a part is a copy that
      ;; keeps :shown, so a suggestion counts once however it is drawn.
      (unless (plist-get candidate :shown)
        (setf (nth redis-ai--candidate-index redis-ai--candidates)
              (plist-put (copy-sequence candidate) :shown t))
        (redis-ai--feedback candidate "shown")))))

(defun redis-ai--clear-ghost ()
  "Remove the ghost text and forget the candidates."
  (redis-ai-ghost-clear)
  (setq redis-ai--candidates nil
        redis-ai--candidate-index 0
        redis-ai--ghost-active nil))

(defun redis-ai--follow-ghost (tick pt)
  "Keep the ghost text in step with the command that just ran.
TICK and PT are the buffer's change tick and point after it.  Typing
the ghost's next character keeps the rest; anything else clears it."
  (unless (or (memq this-command redis-ai--own-commands)
              (and (eq tick redis-ai--ghost-tick)
                   (eql pt (redis-ai-ghost-position))))
    (let* ((candidate (nth redis-ai--candidate-index redis-ai--candidates))
           (text (plist-get candidate :text))
           (ghost (redis-ai-ghost-position)))
      (if (and text ghost (> (length text) 1)
               (eq this-command 'self-insert-command)
               (eql pt (1+ ghost))
               (eq (char-before pt) (aref text 0)))
          (progn (setq redis-ai--candidates
                       (list (plist-put (copy-sequence candidate) :text (substring text 1)))
                       redis-ai--candidate-index 0)
                 (redis-ai--show-candidate))
        (redis-ai--clear-ghost)))))

;;; Commands

(defun redis-ai--feedback (candidate action)
  "Tell the daemon that the user took ACTION on CANDIDATE."
  (redis-ai-call 'feedback `((suggestion . ,(or (plist-get candidate :result) ""))
                             (analyzer . ,(or (plist-get candidate :analyzer) ""))
                             (action . ,action))))

(defun redis-ai--accept (part)
  "Insert PART (a function of the ghost text) of the suggestion at point."
  (let* ((candidate (nth redis-ai--candidate-index redis-ai--candidates))
         (text (plist-get candidate :text)))
    (unless (and text redis-ai--ghost)
      (user-error "No redis-ai suggestion here"))
    (let* ((piece (funcall part text))
           (rest (substring text (length piece))))
      (redis-ai-ghost-clear)
      (insert piece)
      ;; One outcome per suggestion, so `redis-ai stats' can divide by the
      ;; suggestions shown: taking it in pieces counts as partly accepted,
      ;; once; what remains keeps :decided and reports nothing more.
      (unless (plist-get candidate :decided)
        (redis-ai--feedback candidate (if (string= rest "") "accepted" "accepted_partial")))
      (if (string= rest "")
          (redis-ai--clear-ghost)
        (setq redis-ai--candidates
              (list (plist-put (plist-put (copy-sequence candidate) :text rest) :decided t))
              redis-ai--candidate-index 0)
        (redis-ai--show-candidate)))))

(defun redis-ai-accept ()
  "Insert the whole suggestion shown at point."
  (interactive)
  (redis-ai--accept #'identity))

(defun redis-ai-accept-word ()
  "Insert the next word of the suggestion shown at point."
  (interactive)
  (redis-ai--accept #'redis-ai-next-word))

(defun redis-ai-accept-line ()
  "Insert the next line of the suggestion shown at point."
  (interactive)
  (redis-ai--accept #'redis-ai-next-line))

(defun redis-ai--cycle (step)
  "Show the suggestion STEP places away from the current one."
  (unless redis-ai--candidates
    (user-error "No redis-ai suggestion here"))
  (setq redis-ai--candidate-index
        (mod (+ redis-ai--candidate-index step) (length redis-ai--candidates)))
  (redis-ai--show-candidate)
  (message "redis-ai: suggestion %d of %d" (1+ redis-ai--candidate-index)
           (length redis-ai--candidates)))

(defun redis-ai-next ()
  "Show the next suggestion."
  (interactive)
  (redis-ai--cycle 1))

(defun redis-ai-previous ()
  "Show the previous suggestion."
  (interactive)
  (redis-ai--cycle -1))

(defun redis-ai-dismiss ()
  "Remove the suggestion shown at point."
  (interactive)
  (let ((candidate (nth redis-ai--candidate-index redis-ai--candidates)))
    (when (and candidate (not (plist-get candidate :decided)))
      (redis-ai--feedback candidate "dismissed")))
  (redis-ai--clear-ghost))

(defun redis-ai-analyze (&optional analyzers)
  "Ask the daemon to analyze the region or the top-level form at point now.
ANALYZERS, a list of names, restricts the request to those analyzers."
  (interactive)
  (unless redis-ai-mode
    (user-error "Turn on `redis-ai-mode' first"))
  (let ((this-command 'redis-ai-analyze))
    (redis-ai--record "request"))
  (setq redis-ai--pending-analyzers analyzers)
  (redis-ai--send-now)
  (when (called-interactively-p 'interactive)
    (message (if redis-ai--pending
                 "redis-ai: daemon %s, the request will go when it can"
               "redis-ai: analysis requested%s")
             (if redis-ai--pending redis-ai--state ""))))

(defvar-local redis-ai--tests-wanted nil
  "Non-nil while the user waits for a generated test module.")

(defun redis-ai-generate-tests ()
  "Ask for a test module for the function at point; open it when it comes."
  (interactive)
  (setq redis-ai--tests-wanted t)
  (redis-ai-analyze '("test_generation"))
  (message "redis-ai: generating tests for the function at point"))

(defun redis-ai--open-wanted-tests (result)
  "Open the test module of RESULT if the user waits for it."
  (when (and redis-ai--tests-wanted (equal (alist-get 'kind result) "tests"))
    (setq redis-ai--tests-wanted nil)
    (let ((ov (seq-find (lambda (ov)
                          (equal (plist-get (overlay-get ov 'redis-ai-annotation) :result)
                                 (alist-get 'id result)))
                        (redis-ai-annotations))))
      (if ov
          (redis-ai-annotation-describe ov)
        (message "redis-ai: no function here to test")))))

(defun redis-ai-open-annotation ()
  "Show the annotation on the line at point, or choose one of the buffer's."
  (interactive)
  (let ((here (redis-ai-annotations (point))))
    (if here
        (redis-ai-annotation-describe (car here))
      (let* ((all (redis-ai-annotations))
             (choices (mapcar (lambda (ov)
                                (let ((a (overlay-get ov 'redis-ai-annotation)))
                                  (cons (format "%d: %s"
                                                (line-number-at-pos (overlay-start ov))
                                                (or (alist-get 'message (plist-get a :item))
                                                    (alist-get 'title (plist-get a :item))
                                                    ""))
                                        ov)))
                              all)))
        (unless choices
          (user-error "No redis-ai annotations in this buffer"))
        (redis-ai-annotation-describe
         (cdr (assoc (completing-read "Annotation: " choices nil t) choices)))))))

(defun redis-ai--insert-tree (value indent)
  "Insert VALUE, a parsed JSON value, as indented text at INDENT columns."
  (if (and (consp value) (consp (car value)) (symbolp (caar value)))
      (dolist (entry value)
        (insert (make-string indent ?\s) (symbol-name (car entry)) ":")
        (if (and (consp (cdr entry)) (consp (cadr entry)))
            (progn (insert "\n") (redis-ai--insert-tree (cdr entry) (+ indent 2)))
          (insert " " (format "%s" (if (listp (cdr entry))
                                       (mapconcat (lambda (v) (format "%s" v))
                                                  (cdr entry) ", ")
                                     (cdr entry)))
                  "\n")))
    (insert (make-string indent ?\s) (format "%s" value) "\n")))

(defun redis-ai--plural (n word &optional plural)
  "Return N and WORD, or PLURAL (default WORD and s) unless N is 1."
  (format "%s %s" n (if (eql n 1) word (or plural (concat word "s")))))

(defun redis-ai--duration (seconds)
  "Return SECONDS as a short duration: 45 s, 12 min, 3 h 20 min."
  (let ((s (truncate (or seconds 0))))
    (cond ((< s 60) (format "%d s" s))
          ((< s 3600) (format "%d min" (/ s 60)))
          (t (format "%d h %d min" (/ s 3600) (/ (% s 3600) 60))))))

(defun redis-ai--status-lines (status)
  "Return the daemon's STATUS (the `status' method's map) as lines of text."
  (let-alist status
    (append
     (list (format "Daemon %s, version %s, up %s, %s connected."
                   (or .daemon.id "?") (or .daemon.version "?")
                   (redis-ai--duration .daemon.uptime_s)
                   (redis-ai--plural .daemon.clients "editor"))
           (format "Events: %s written to Redis, %s waiting, %s dropped."
                   .daemon.written .daemon.buffered .daemon.dropped)
           (format "Results: %s delivered, %s dropped as stale."
                   .daemon.delivered_results .daemon.stale_results)
           (format "This Emacs: client %s, %s sent, %s dropped."
                   .connection.client (redis-ai--plural .connection.events "event")
                   (redis-ai--plural .connection.dropped_pushes "push" "pushes"))
           "")
     (if (not .redis.up)
         (list (format "Redis at %s is DOWN: events wait in the daemon." .daemon.redis_url))
       (append
        (list (format "Redis %s at %s%s." .redis.version .daemon.redis_url
                      (if (eq .daemon.embedded t) " (private, started by the daemon)" ""))
              (format "Stream %s: %s, last %s."
                      .stream.key (redis-ai--plural .stream.length "entry" "entries")
                      (or .stream.last_id "none"))
              (format "Dead letters: %s." (or .dead_letters.length 0))
              ""
              (if .groups "Analyzers (consumer groups):" "No analyzer has read yet."))
        (mapcan (lambda (group)
                  (let-alist group
                    (cons (format "  %-24s %s pending, lag %s, %s"
                                  .name .pending (or .lag "?")
                                  (redis-ai--plural (length .consumers) "consumer"))
                          (mapcar (lambda (c)
                                    (let-alist c
                                      (format "      consumer %s, %s pending, idle %s ms"
                                              .name .pending .idle_ms)))
                                  .consumers))))
                .groups)
        (and .counters
             (list "" (concat "Counters: "
                              (mapconcat (lambda (c) (format "%s %s" (car c) (cdr c)))
                                         .counters ", ") ".")))
        (list "" (format "Live: %s, %s."
                         (redis-ai--plural (length .daemons) "daemon")
                         (redis-ai--plural (length .workers) "worker process" "worker processes"))))))))

(defun redis-ai-status ()
  "Show the daemon's status as text; never waits for it."
  (interactive)
  (cond
   ((not (redis-ai-connected-p))
    (redis-ai-connection-ensure)
    (message "redis-ai: %s (discovery file %s)" redis-ai--state
             (redis-ai-discovery-file)))
   ((redis-ai-call 'status nil
                   (lambda (status)
                     (with-current-buffer (get-buffer-create "*redis-ai status*")
                       (let ((inhibit-read-only t))
                         (erase-buffer)
                         (insert (string-join (redis-ai--status-lines status) "\n") "\n")
                         (goto-char (point-min))
                         (special-mode)))
                     (display-buffer "*redis-ai status*")))
    (message "redis-ai: asking the daemon..."))
   (t (message "redis-ai: the daemon is not answering (%d calls waiting)"
               (hash-table-count redis-ai--inflight)))))

(defun redis-ai-reconnect ()
  "Close the connection to the daemon and connect again."
  (interactive)
  (redis-ai-connection-restart)
  (message "redis-ai: %s" redis-ai--state))

(defvar redis-ai--daemon-process nil
  "The daemon process started by `redis-ai-start-daemon'.")

(defun redis-ai-daemon-argv ()
  "Return the command line for `redis-ai-start-daemon', its program found.
See `redis-ai-daemon-command'.  Signal a `user-error' naming what to
do when the program is nowhere."
  (let* ((program (car redis-ai-daemon-command))
         (found (cond ((and (equal program "redis-ai")
                            (file-executable-p redis-ai--checkout-program))
                       redis-ai--checkout-program)
                      ((file-name-absolute-p program)
                       (and (file-executable-p program) program))
                      (t (executable-find program)))))
    (unless found
      (user-error "Cannot find %s: run `make run' in the redis-ai checkout, or set \
`redis-ai-daemon-command'" program))
    (cons found (cdr redis-ai-daemon-command))))

(defun redis-ai--daemon-exited (process event)
  "Tell the user that the daemon PROCESS ended with EVENT, and its last words."
  (when (and (not (process-live-p process)) (buffer-live-p (process-buffer process)))
    (let ((last (with-current-buffer (process-buffer process)
                  (save-excursion
                    (goto-char (point-max))
                    (skip-chars-backward " \t\n")
                    (buffer-substring-no-properties (line-beginning-position) (point))))))
      (message "redis-ai: the daemon %s%s" (string-trim event)
               (if (string= last "") "" (format ": %s" last))))))

;;;###autoload
(defun redis-ai-start-daemon ()
  "Start the daemon with `redis-ai-daemon-command' and connect to it.
If a daemon already runs, say so and connect to that one."
  (interactive)
  (let ((running (redis-ai-read-discovery)))
    (cond
     ((process-live-p redis-ai--daemon-process)
      (message "redis-ai: the daemon is already running (pid %d, started from Emacs)"
               (process-id redis-ai--daemon-process)))
     ((and running (redis-ai-daemon-alive-p running))
      (message "redis-ai: a daemon already runs (pid %s, EPC port %s); using it"
               (alist-get 'pid running) (alist-get 'epc_port running)))
     (t
      (let ((argv (redis-ai-daemon-argv))
            (buffer (get-buffer-create "*redis-ai daemon*")))
        (setq redis-ai--daemon-process
              (make-process :name "redis-ai-daemon" :buffer buffer :command argv
                            :connection-type 'pipe :noquery t
                            :sentinel #'redis-ai--daemon-exited))
        (message "redis-ai: starting %s" (string-join argv " "))))))
  (setq redis-ai--backoff nil)
  (unless (redis-ai-connected-p)
    (redis-ai--drop-connection)
    (redis-ai-connection-ensure)))

;;;###autoload
(defun redis-ai-diagnose ()
  "Show versions and connection state for a bug report, and copy them."
  (interactive)
  (let* ((discovery (redis-ai-read-discovery))
         (report
          (with-temp-buffer
            (insert (format "redis-ai %s, protocol %d\n" redis-ai-version
                            redis-ai-protocol-version)
                    (format "Emacs %s (%s)\n" emacs-version system-configuration)
                    (format "native JSON: %s\n" (if (fboundp 'json-serialize) "yes" "no"))
                    (format "epc: %s\n" (or (locate-library "epc") "not found"))
                    (format "discovery file: %s (%s)\n" (redis-ai-discovery-file)
                            (if discovery "present" "absent")))
            (when discovery
              (insert (format "daemon: pid %s, version %s, protocol %s, epc port %s, redis %s\n"
                              (alist-get 'pid discovery) (alist-get 'version discovery)
                              (alist-get 'protocol discovery) (alist-get 'epc_port discovery)
                              (alist-get 'redis_url discovery))))
            (insert (format "state: %s, client %s\n" redis-ai--state redis-ai--client)
                    (format "in flight: %d calls, %d bytes\n"
                            (hash-table-count redis-ai--inflight) redis-ai--inflight-bytes)
                    (format "waiting buffers: %d\n" (length redis-ai--dirty-buffers))
                    (format "last error: %s\n" (or redis-ai--last-error "none")))
            (when redis-ai--hello
              (insert "hello:\n")
              (redis-ai--insert-tree redis-ai--hello 2))
            (when redis-ai--daemon-status
              (insert "status push:\n")
              (redis-ai--insert-tree redis-ai--daemon-status 2))
            (when (get-buffer redis-ai--log-buffer)
              (insert "log:\n"
                      (with-current-buffer redis-ai--log-buffer
                        (save-excursion
                          (goto-char (point-max))
                          (forward-line -30)
                          (buffer-substring-no-properties (point) (point-max))))))
            (buffer-string))))
    (kill-new report)
    (with-current-buffer (get-buffer-create "*redis-ai diagnose*")
      (let ((inhibit-read-only t))
        (erase-buffer)
        (insert report)
        (goto-char (point-min))
        (special-mode)))
    (when (called-interactively-p 'interactive)
      (display-buffer "*redis-ai diagnose*")
      (message "redis-ai: report copied to the kill ring"))
    report))

;;; Modes

(defun redis-ai--lighter ()
  "Return the mode-line lighter: the connection state."
  (pcase redis-ai--state
    ('ready (if (equal (alist-get 'redis redis-ai--daemon-status) "down")
                " RAI[redis down]"
              " RAI"))
    ('stalled " RAI[stalled]")
    ('connecting " RAI[...]")
    (_ " RAI[off]")))

(defvar-local redis-ai--started-flymake nil
  "Non-nil if `redis-ai-mode' turned on `flymake-mode' in this buffer.
Then it is (BACKENDS), the buffer's `flymake-diagnostic-functions'
before, restored when the mode is turned off.")

(defun redis-ai--change-major-mode ()
  "Turn the mode off cleanly before a new major mode wipes its variables.
Otherwise its overlays would stay behind, no longer known."
  (redis-ai-mode -1))

(defun redis-ai--kill-buffer ()
  "Forget the buffer being killed."
  (setq redis-ai--dirty-buffers (delq (current-buffer) redis-ai--dirty-buffers))
  (when redis-ai--buffer-id
    (remhash redis-ai--buffer-id redis-ai--buffers)))

;;;###autoload
(define-minor-mode redis-ai-mode
  "Send this buffer's edits to the redis-ai daemon and show what it finds.

Completions appear as ghost text at point, diagnostics through
Flymake (\[redis-ai-fix] applies the fix of the one at point), hints
and generated tests as annotations.

\\{redis-ai-mode-map}"
  :lighter (:eval (redis-ai--lighter))
  :keymap redis-ai-mode-map
  :group 'redis-ai
  (if redis-ai-mode
      (progn
        (add-hook 'pre-command-hook #'redis-ai--pre-command nil t)
        (add-hook 'post-command-hook #'redis-ai--post-command nil t)
        (add-hook 'after-save-hook #'redis-ai--after-save nil t)
        (add-hook 'kill-buffer-hook #'redis-ai--kill-buffer nil t)
        (add-hook 'change-major-mode-hook #'redis-ai--change-major-mode nil t)
        (add-to-list 'emulation-mode-map-alists 'redis-ai--emulation-alist)
        (add-hook 'context-menu-functions #'redis-ai-fix-context-menu nil t)
        (unless redis-ai--buffer-id
          (setq redis-ai--buffer-serial (1+ redis-ai--buffer-serial)
                redis-ai--buffer-id (format "%s#%d" (buffer-name) redis-ai--buffer-serial)))
        (puthash redis-ai--buffer-id (current-buffer) redis-ai--buffers)
        (setq redis-ai--seen-tick (buffer-chars-modified-tick)
              redis-ai--seen-point (point))
        (when redis-ai-enable-flymake
          (if (bound-and-true-p flymake-mode)
              (add-hook 'flymake-diagnostic-functions #'redis-ai-flymake nil t)
            ;; Who did not use Flymake gets redis-ai's diagnostics only,
            ;; not also those of the major mode's checkers.
            (setq redis-ai--started-flymake (list flymake-diagnostic-functions))
            (setq-local flymake-diagnostic-functions (list #'redis-ai-flymake))
            (flymake-mode 1)))
        (redis-ai-connection-ensure))
    (remove-hook 'pre-command-hook #'redis-ai--pre-command t)
    (remove-hook 'post-command-hook #'redis-ai--post-command t)
    (remove-hook 'after-save-hook #'redis-ai--after-save t)
    (remove-hook 'kill-buffer-hook #'redis-ai--kill-buffer t)
    (remove-hook 'change-major-mode-hook #'redis-ai--change-major-mode t)
    (remove-hook 'context-menu-functions #'redis-ai-fix-context-menu t)
    (redis-ai--kill-buffer)
    (redis-ai-fix-clear)
    (redis-ai--clear-ghost)
    (save-restriction
      (widen)
      (dolist (ov (redis-ai-annotations))
        (delete-overlay ov)))
    (redis-ai-flymake-clear)
    (remove-hook 'flymake-diagnostic-functions #'redis-ai-flymake t)
    (when redis-ai--started-flymake
      (flymake-mode -1)
      (setq-local flymake-diagnostic-functions (car redis-ai--started-flymake))
      (setq redis-ai--started-flymake nil))
    (setq redis-ai--pending nil)))

(defun redis-ai--turn-on ()
  "Turn on `redis-ai-mode' in buffers whose mode is in `redis-ai-global-modes'."
  (when (and (not (minibufferp))
             (apply #'derived-mode-p redis-ai-global-modes))
    (redis-ai-mode 1)))

;;;###autoload
(define-globalized-minor-mode global-redis-ai-mode redis-ai-mode redis-ai--turn-on
  :group 'redis-ai)

(defun redis-ai--state-changed (state)
  "Send what waits once the connection reaches STATE `ready'."
  (when (eq state 'ready)
    (redis-ai--flush)))

(setq redis-ai-push-function #'redis-ai--on-push)
(add-hook 'redis-ai-connection-settled-functions #'redis-ai--flush)
(add-hook 'redis-ai-connection-state-functions #'redis-ai--state-changed)

(provide 'redis-ai)
;;; redis-ai.el ends here
