;;; redis-ai-unit-test.el --- redis-ai tests that need no daemon  -*- lexical-binding: t; -*-

;;; Commentary:

;; What the plugin does on its own: recording typed keys as intents,
;; choosing the text window, and drawing pushes delivered as the daemon
;; delivers them (one JSON string to the EPC `push' method).  Keys are
;; typed through the real command loop.  Run with REDIS_AI_RUNTIME_DIR
;; pointing to an empty folder, so no daemon is found.

;;; Code:

(require 'redis-ai-test-helpers)
(require 'cl-lib)
(require 'python)

(defvar redis-ai-test--major-ran nil
  "Non-nil once the test major mode's own C-c C-c has run.")

(defvar redis-ai-test-pwned nil
  "Set only if a payload got evaluated.")

(defun redis-ai-test--major-c-c ()
  "The test major mode's own C-c C-c."
  (interactive)
  (setq redis-ai-test--major-ran t))

(defvar redis-ai-test-major-mode-map
  (let ((map (make-sparse-keymap)))
    (define-key map (kbd "C-c C-c") #'redis-ai-test--major-c-c)
    map)
  "Keymap of `redis-ai-test-major-mode'.")

(define-derived-mode redis-ai-test-major-mode prog-mode "RAI-test"
  "A major mode that binds C-c C-c itself.")

(defun redis-ai-test--result (kind items &rest fields)
  "Return a result push of KIND with ITEMS for the current buffer, plus FIELDS."
  (let ((here (redis-ai-line-col)))
    (append fields
            `((type . "result") (id . ,(format "1-0/%s" kind)) (event . "1-0")
              (client . "c-000000000000") (buffer . ,redis-ai--buffer-id) (file . "")
              (tick . ,(buffer-chars-modified-tick)) (line . ,(car here))
              (col . ,(cdr here)) (analyzer . ,(concat "test_" kind)) (kind . ,kind)
              (items . ,(vconcat items)) (elapsed_ms . 1.0) (received . 0)))))

(defun redis-ai-test--completion (&rest texts)
  "Push a completion result offering TEXTS at point."
  (let ((here (redis-ai-line-col)))
    (redis-ai-test-push
     (redis-ai-test--result
      "completion"
      (mapcar (lambda (text) `((text . ,text) (line . ,(car here)) (col . ,(cdr here))))
              texts)))))

;;; Recording

(ert-deftest redis-ai-unit-typing-records-edit-and-sends-nothing ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode "x = 1\n"
    (redis-ai-mode 1)
    (let ((calls redis-ai--call-counter))
      (redis-ai-test-type "a b c")
      (should (equal (buffer-string) "x = 1\nabc"))
      (should (equal redis-ai--pending "edit"))
      (should (equal (key-description redis-ai--pending-keys) "c"))
      (should (eq redis-ai--pending-command 'self-insert-command))
      (should (memq (current-buffer) redis-ai--dirty-buffers))
      (should (= calls redis-ai--call-counter)))))

(ert-deftest redis-ai-unit-cursor-moves-record-cursor ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode "one\ntwo\n"
    (redis-ai-mode 1)
    (redis-ai-test-type "C-p")
    (should (equal redis-ai--pending "cursor"))
    (let ((redis-ai-send-cursor-moves nil))
      (setq redis-ai--pending nil)
      (redis-ai-test-type "C-n")
      (should-not redis-ai--pending))))

(ert-deftest redis-ai-unit-c-c-c-c-is-observed-not-taken ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode "def f():\n    return 1\n"
    (redis-ai-mode 1)
    (setq redis-ai-test--major-ran nil)
    (forward-line -1)
    (redis-ai-test-type "C-c C-c")
    (should redis-ai-test--major-ran)
    (should (equal redis-ai--pending "execute_code"))
    (should (equal (key-description redis-ai--pending-keys) "C-c C-c"))
    ;; Typing afterwards does not weaken the intent still waiting.
    (redis-ai-test-type "x")
    (should (equal redis-ai--pending "execute_code"))))

(ert-deftest redis-ai-unit-c-c-c-c-observed-when-the-command-fails ()
  (redis-ai-test-with-buffer #'python-mode "x = 1\n"
    (redis-ai-mode 1)
    (setq redis-ai-test-command-errors nil)
    ;; python-mode's C-c C-c signals without a Python process.
    (redis-ai-test-type "C-c C-c")
    (should redis-ai-test-command-errors)
    (should (equal redis-ai--pending "execute_code"))))

(ert-deftest redis-ai-unit-intent-keys-are-an-option ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode "x\n"
    (let ((redis-ai-intent-keys '(("C-c C-a" . "request"))))
      (redis-ai-mode 1)
      (redis-ai-test-type "C-c C-c")
      (should-not redis-ai--pending)
      (redis-ai-test-type "C-c C-a")
      (should (equal redis-ai--pending "request")))))

(ert-deftest redis-ai-unit-saving-records-save ()
  (let ((file (make-temp-file "redis-ai-save" nil ".py")))
    (unwind-protect
        (with-current-buffer (find-file-noselect file)
          (switch-to-buffer (current-buffer))
          (redis-ai-mode 1)
          (insert "y = 2\n")
          (redis-ai-test-type "C-x C-s")
          (should (equal redis-ai--pending "save"))
          (redis-ai-mode -1)
          (kill-buffer))
      (delete-file file))))

;;; The event and its text window

(ert-deftest redis-ai-unit-a-new-buffer-is-not-taken-for-an-old-one ()
  (let (old)
    (redis-ai-test-with-buffer #'python-mode "x"
      (redis-ai-mode 1)
      (setq old redis-ai--buffer-id))
    (redis-ai-test-with-buffer #'python-mode "y"
      (redis-ai-mode 1)
      (should-not (equal redis-ai--buffer-id old))
      (should (equal (alist-get 'buffer (redis-ai--event "edit")) redis-ai--buffer-id))
      (should-not (gethash old redis-ai--buffers)))))

(ert-deftest redis-ai-unit-event-fields ()
  (redis-ai-test-with-buffer #'python-mode "import os\n\tαβ"
    (redis-ai-mode 1)
    (redis-ai-test-type "C-b")
    (let ((event (redis-ai--event "edit")))
      (should (= (alist-get 'v event) 1))
      (should (equal (alist-get 'editor event) "emacs"))
      (should (string-match-p "\\`redis-ai-test\\.py#[0-9]+\\'" (alist-get 'buffer event)))
      (should (equal (alist-get 'mode event) "python-mode"))
      (should (= (alist-get 'line event) 2))
      ;; Characters, not display columns: a tab and one letter precede point.
      (should (= (alist-get 'col event) 2))
      (should (= (alist-get 'tick event) (buffer-chars-modified-tick)))
      (should (equal (alist-get 'text event) "import os\n\tαβ"))
      (should (eq (alist-get 'whole event) t))
      (should (= (alist-get 'first_line event) 1))
      (should (equal (alist-get 'keys event) "C-b"))
      (should (equal (alist-get 'command event) "backward-char"))
      (should (numberp (alist-get 'ts event)))
      (should-not (assq 'region event))
      ;; It survives JSON both ways, with the native parser and json.el.
      (let ((json (redis-ai-json-encode event)))
        (should (equal (alist-get 'text (redis-ai-json-decode json)) "import os\n\tαβ"))
        (should (equal (let ((json-object-type 'alist) (json-key-type 'symbol))
                         (alist-get 'col (json-read-from-string json)))
                       2))))))

(ert-deftest redis-ai-unit-json-el-fallback-speaks-the-same-json ()
  (let* ((value '((text . "αβ \"q\"\n\t") (line . 3) (whole . t) (ts . 1.5)
                  (region . [1 2]) (analyzers . ["a"])))
         (native (redis-ai-json-encode value))
         (fallback (cl-letf (((symbol-function 'json-serialize) nil)
                             ((symbol-function 'json-parse-string) nil))
                     (list (redis-ai-json-encode value)
                           (redis-ai-json-decode native)))))
    (should (equal (redis-ai-json-decode (car fallback)) (redis-ai-json-decode native)))
    (should (equal (cadr fallback) (redis-ai-json-decode native)))
    (should (equal (alist-get 'region (redis-ai-json-decode native)) '(1 2)))
    (should (equal (alist-get 'text (cadr fallback)) "αβ \"q\"\n\t"))
    (should-not (redis-ai-json-decode "{not json"))))

(ert-deftest redis-ai-unit-execute-code-region-is-the-form ()
  (redis-ai-test-with-buffer #'python-mode
      "import os\n\n\ndef f(x):\n    y = x\n    return y\n\n\nz = 1\n"
    (goto-char (point-min))
    (search-forward "y = x")
    (let ((event (redis-ai--event "execute_code")))
      (should (equal (alist-get 'region event) [4 6])))
    (let ((transient-mark-mode t))
      (push-mark (point-min) t t)
      (let ((event (redis-ai--event "request")))
        (should (equal (alist-get 'region event) [1 5]))))))

(ert-deftest redis-ai-unit-large-buffer-sends-a-window ()
  (redis-ai-test-with-buffer #'python-mode ""
    (dotimes (i 1000)
      (insert (format "line_%d = %d\n" (1+ i) i)))
    (goto-char (redis-ai-position 500 3))
    (let ((redis-ai-whole-buffer-limit 4096)
          (redis-ai-window-lines 20))
      (pcase-let ((`(,text ,first ,whole) (redis-ai-text-window)))
        (should-not whole)
        (should (= first 490))
        (should (= (length (split-string text "\n" t)) 20))
        (should (string-prefix-p "line_490 = 489\n" text))
        (should (string-match-p "^line_500 = 499$" text)))
      (let ((event (redis-ai--event "edit")))
        (should (= (alist-get 'line event) 500))
        (should (= (alist-get 'first_line event) 490))
        (should-not (assq 'whole event))))))

;;; Ghost text

(ert-deftest redis-ai-unit-completion-push-draws-ghost-text ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (redis-ai-test--completion "alpha beta gamma\ndelta epsilon")
    (should (equal (redis-ai-ghost-text) "alpha beta gamma\ndelta epsilon"))
    (should (= (redis-ai-ghost-position) (point)))
    (should (eq (get-text-property 0 'face (overlay-get redis-ai--ghost 'after-string))
                'redis-ai-ghost-face))
    ;; The buffer itself is untouched until the user accepts.
    (should (equal (buffer-string) "x = "))
    (redis-ai-test-type "TAB")
    (should (equal (buffer-string) "x = alpha beta gamma\ndelta epsilon"))
    (should-not (redis-ai-ghost-text))))

(ert-deftest redis-ai-unit-accept-word-and-line ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (redis-ai-test--completion "alpha beta gamma\ndelta epsilon")
    (redis-ai-test-type "M-<right>")
    (should (equal (buffer-string) "x = alpha"))
    (should (equal (redis-ai-ghost-text) " beta gamma\ndelta epsilon"))
    (should (= (redis-ai-ghost-position) (point)))
    (redis-ai-test-type "M-<down>")
    (should (equal (buffer-string) "x = alpha beta gamma"))
    (should (equal (redis-ai-ghost-text) "\ndelta epsilon"))
    (redis-ai-test-type "C-c r w")
    (should (equal (buffer-string) "x = alpha beta gamma\ndelta"))
    (redis-ai-test-type "C-c r l")
    (should (equal (buffer-string) "x = alpha beta gamma\ndelta epsilon"))
    (should-not (redis-ai-ghost-text))))

(ert-deftest redis-ai-unit-next-previous-and-dismiss ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (redis-ai-test--completion "one" "two" "three")
    (should (equal (redis-ai-ghost-text) "one"))
    (redis-ai-test-type "M-n")
    (should (equal (redis-ai-ghost-text) "two"))
    (redis-ai-test-type "M-p M-p")
    (should (equal (redis-ai-ghost-text) "three"))
    (redis-ai-test-type "C-c r d")
    (should-not (redis-ai-ghost-text))
    (should (equal (buffer-string) "x = "))
    ;; Without ghost text, TAB is the major mode's again.
    (redis-ai-test-type "TAB")
    (should-not (equal (buffer-string) "x = three"))))

(ert-deftest redis-ai-unit-ghost-follows-typing-and-clears-on-move ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (redis-ai-test--completion "alpha")
    (redis-ai-test-type "a l")
    (should (equal (redis-ai-ghost-text) "pha"))
    (redis-ai-test-type "z")
    (should-not (redis-ai-ghost-text))
    (redis-ai-test--completion "beta")
    (should (redis-ai-ghost-text))
    (redis-ai-test-type "C-b")
    (should-not (redis-ai-ghost-text))))

;;; Stale results

(ert-deftest redis-ai-unit-stale-results-are-dropped ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (let ((old (redis-ai-test--result
                "completion" `(((text . "old") (line . 1) (col . 4)))))
          (seen nil))
      (add-hook 'redis-ai-result-functions
                (lambda (result shown) (push (cons (alist-get 'tick result) shown) seen))
                nil t)
      (redis-ai-test-type "y")
      ;; Made for the buffer before "y": older tick.
      (redis-ai-test-push old)
      (should-not (redis-ai-ghost-text))
      (should (= redis-ai--dropped 1))
      (should (equal (car seen) (cons (alist-get 'tick old) nil)))
      ;; Same tick, but the cursor has moved since.
      (redis-ai-test-type "C-b")
      (redis-ai-test-push (redis-ai-test--result
                           "completion" `(((text . "moved") (line . 1) (col . 5)))))
      (should-not (redis-ai-ghost-text))
      (should (= redis-ai--dropped 2))
      ;; Stale diagnostics and hints are dropped too.
      (let ((diag (redis-ai-test--result
                   "diagnostics" `(((line . 1) (col . 0) (end_line . 1) (end_col . 1)
                                    (severity . "error") (message . "old")))))
            (hint (redis-ai-test--result
                   "hints" `(((line . 1) (col . 0) (end_line . 1) (end_col . 1)
                              (message . "old hint"))))))
        (redis-ai-test-type "z")
        (redis-ai-test-push diag)
        (redis-ai-test-push hint)
        (should (= redis-ai--dropped 4))
        (should-not (redis-ai-annotations)))
      ;; A current one is shown.
      (redis-ai-test--completion "new")
      (should (equal (redis-ai-ghost-text) "new")))))

;;; Diagnostics, hints, tests

(ert-deftest redis-ai-unit-flymake-started-by-the-mode-shows-only-redis-ai ()
  (redis-ai-test-with-buffer #'python-mode "x = 1\n"
    (should (memq #'python-flymake flymake-diagnostic-functions))
    (redis-ai-mode 1)
    (should flymake-mode)
    (should (equal flymake-diagnostic-functions '(redis-ai-flymake)))
    (redis-ai-mode -1)
    (should-not flymake-mode)
    (should (memq #'python-flymake flymake-diagnostic-functions))
    ;; A user's own Flymake keeps its backends, and gets redis-ai's too.
    (flymake-mode 1)
    (redis-ai-mode 1)
    (should (memq #'python-flymake flymake-diagnostic-functions))
    (should (memq #'redis-ai-flymake flymake-diagnostic-functions))
    (redis-ai-mode -1)
    (should flymake-mode)
    (should-not (memq #'redis-ai-flymake flymake-diagnostic-functions))))

(ert-deftest redis-ai-unit-diagnostics-reach-flymake ()
  (redis-ai-test-with-buffer #'python-mode "import os\n\ndef f():\n    return y\n"
    (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
    (redis-ai-mode 1)
    (should (bound-and-true-p flymake-mode))
    (redis-ai-test-push
     (redis-ai-test--result
      "diagnostics"
      `(((line . 4) (col . 11) (end_line . 4) (end_col . 12) (severity . "error")
         (message . "undefined name 'y'") (code . "F821") (source . "pyflakes"))
        ((line . 1) (col . 0) (end_line . 1) (end_col . 9) (severity . "warning")
         (message . "'os' imported but unused") (code . "F401") (source . "pyflakes")))))
    (let ((diags (redis-ai-test-wait
                  (lambda ()
                    (seq-filter (lambda (d) (eq (flymake-diagnostic-backend d)
                                                'redis-ai-flymake))
                                (flymake-diagnostics)))
                  5)))
      (should (= (length diags) 2))
      (let ((error (seq-find (lambda (d) (eq (flymake-diagnostic-type d) :error)) diags)))
        (should (= (line-number-at-pos (flymake-diagnostic-beg error)) 4))
        (should (equal (buffer-substring (flymake-diagnostic-beg error)
                                         (flymake-diagnostic-end error))
                       "y"))
        (should (string-match-p "undefined name 'y'" (flymake-diagnostic-text error)))))
    ;; An empty result clears them.
    (redis-ai-test-push (redis-ai-test--result "diagnostics" nil))
    (should-not (seq-filter (lambda (d) (eq (flymake-diagnostic-backend d) 'redis-ai-flymake))
                            (flymake-diagnostics)))))

(ert-deftest redis-ai-unit-hint-annotation-and-rewrite ()
  (redis-ai-test-with-buffer #'python-mode "s = ''\nfor x in xs:\n    s += x\n"
    (redis-ai-mode 1)
    (redis-ai-test-push
     (redis-ai-test--result
      "hints" `(((line . 2) (col . 0) (end_line . 3) (end_col . 10)
                 (message . "join the strings") (code . "PERF1")
                 (rewrite . "s = ''.join(xs)")))))
    (let ((ov (car (redis-ai-annotations))))
      (should ov)
      (should (string-match-p "join the strings" (overlay-get ov 'help-echo)))
      (should (= (line-number-at-pos (overlay-start ov)) 2))
      (goto-char (overlay-start ov))
      (redis-ai-test-type "C-c r o")
      (should (string-match-p "join the strings"
                              (with-current-buffer "*redis-ai annotation*" (buffer-string))))
      (redis-ai-annotation-apply ov)
      (should (equal (buffer-string) "s = ''\ns = ''.join(xs)\n")))))

(ert-deftest redis-ai-unit-test-annotation-inserts-into-a-file ()
  (let* ((dir (make-temp-file "redis-ai-tests" t))
         (target (expand-file-name "test_f.py" dir)))
    (unwind-protect
        (redis-ai-test-with-buffer #'python-mode "def f():\n    return 1\n"
          (redis-ai-mode 1)
          (redis-ai-test-push
           (redis-ai-test--result
            "tests" `(((title . "test_f") (path . "tests/test_f.py")
                       (text . "def test_f():\n    assert f() == 1\n")))))
          (let* ((ov (car (redis-ai-annotations)))
                 (annotation (overlay-get ov 'redis-ai-annotation)))
            (should (string-match-p "test_f" (overlay-get ov 'after-string)))
            (with-current-buffer (redis-ai-insert-test (plist-get annotation :item) target)
              (should (equal (buffer-string) "def test_f():\n    assert f() == 1\n"))
              (set-buffer-modified-p nil)
              (kill-buffer))))
      (delete-directory dir t))))

(ert-deftest redis-ai-unit-payloads-are-never-evaluated ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (setq redis-ai-test-pwned nil)
    (redis-ai-test--completion "(setq redis-ai-test-pwned t)")
    (redis-ai-test-push
     (redis-ai-test--result
      "hints" `(((line . 1) (col . 0) (end_line . 1) (end_col . 1)
                 (message . "%s (setq redis-ai-test-pwned t)")))))
    (redis-ai--receive-push "(setq redis-ai-test-pwned t)")
    (redis-ai--receive-push "#[0 \"\\300\\207\" [(setq redis-ai-test-pwned t)] 1]")
    (redis-ai--receive-push "{\"type\": \"result\", \"buffer\": 42}")
    (redis-ai-test-type "TAB")
    (should (equal (buffer-string) "x = (setq redis-ai-test-pwned t)"))
    (should-not redis-ai-test-pwned)))

(ert-deftest redis-ai-unit-changing-major-mode-leaves-nothing-behind ()
  (redis-ai-test-with-buffer #'python-mode "x = "
    (redis-ai-mode 1)
    (let ((id redis-ai--buffer-id))
      (redis-ai-test--completion "alpha")
      (should (redis-ai-ghost-text))
      (python-mode)
      (should-not redis-ai-mode)
      (should-not (seq-find (lambda (ov) (overlay-get ov 'redis-ai-ghost))
                            (overlays-in (point-min) (point-max))))
      (redis-ai-mode 1)
      (should (equal redis-ai--buffer-id id)))))

(ert-deftest redis-ai-unit-global-mode-is-for-programming-buffers ()
  (unwind-protect
      (progn
        (global-redis-ai-mode 1)
        (redis-ai-test-with-buffer #'python-mode "x"
          (should redis-ai-mode))
        (redis-ai-test-with-buffer #'fundamental-mode "x"
          (should-not redis-ai-mode)))
    (global-redis-ai-mode -1)))

;;; Connection state, as the user sees it

(ert-deftest redis-ai-unit-runtime-directory-follows-the-daemon ()
  (let ((process-environment (copy-sequence process-environment))
        (redis-ai-runtime-directory nil))
    (setenv "REDIS_AI_RUNTIME_DIR" "/tmp/rai-x")
    (should (equal (redis-ai-discovery-file) "/tmp/rai-x/daemon.json"))
    (setenv "REDIS_AI_RUNTIME_DIR" nil)
    (setenv "XDG_RUNTIME_DIR" "/run/user/7")
    (should (equal (redis-ai-runtime-dir) "/run/user/7/redis-ai"))
    (setenv "XDG_RUNTIME_DIR" nil)
    (should (equal (redis-ai-runtime-dir)
                   (expand-file-name (format "redis-ai-%d" (user-uid))
                                     temporary-file-directory)))))

(ert-deftest redis-ai-unit-refused-connections-leave-nothing-behind ()
  (let* ((dir (make-temp-file "redis-ai-refused" t))
         (redis-ai-runtime-directory dir)
         (server (make-network-process :name "redis-ai-test-port" :server t
                                       :host "127.0.0.1" :service t))
         (port (process-contact server :service)))
    ;; A port nobody listens on: the daemon died and left its file.
    (delete-process server)
    (unwind-protect
        (progn
          (with-temp-file (expand-file-name "daemon.json" dir)
            ;; A live pid (ours, as if reused): the port is tried.
            (insert (format "{\"epc_port\": %d, \"token\": \"t\", \"protocol\": 1, \"pid\": %d}"
                            port (emacs-pid))))
          (let ((buffers (length (buffer-list))))
            (dotimes (_ 5)
              (redis-ai-connection-restart))
            (should (eq redis-ai--state 'disconnected))
            (should (= (length (buffer-list)) buffers))
            (should (string-match-p "cannot connect" redis-ai--last-error))))
      (redis-ai-connection-close)
      (delete-directory dir t))))

(ert-deftest redis-ai-unit-lighter-shows-redis-down ()
  (let ((redis-ai--state 'ready)
        (redis-ai--daemon-status nil))
    (should (equal (redis-ai--lighter) " RAI"))
    (redis-ai-test-push '((type . "status") (redis . "down") (buffered . 3) (dropped . 0)
                          (message . "connection refused")))
    (should (equal (redis-ai--lighter) " RAI[redis down]"))
    (redis-ai-test-push '((type . "status") (redis . "up") (buffered . 0) (dropped . 0)
                          (message . "")))
    (should (equal (redis-ai--lighter) " RAI"))
    (let ((redis-ai--state 'stalled))
      (should (equal (redis-ai--lighter) " RAI[stalled]")))))

(ert-deftest redis-ai-unit-no-daemon-is-a-state-not-an-error ()
  (redis-ai-test-with-buffer #'python-mode "x = 1\n"
    (redis-ai-mode 1)
    (should (eq redis-ai--state 'disconnected))
    (should (equal (redis-ai--lighter) " RAI[off]"))
    (redis-ai-test-type "a")
    (redis-ai-test-settle 0.3)
    ;; Kept for when the daemon comes; nothing sent, nothing signalled.
    (should (equal redis-ai--pending "edit"))
    (redis-ai-test-type "C-c r s")
    (should-not (redis-ai-can-send-p))
    (let ((report (redis-ai-diagnose)))
      (should (string-match-p "state: disconnected" report))
      (should (string-match-p (regexp-quote (redis-ai-discovery-file)) report))
      (should (string-match-p (regexp-quote emacs-version) report)))))

;;; Test markers, shown feedback, the daemon's command

(ert-deftest redis-ai-unit-test-marker-goes-on-the-line-the-item-names ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode
      "import os\n\ndef double(x):\n    y = x\n    return y * 2\n"
    (redis-ai-mode 1)
    (forward-line -1)
    ;; The request came from the cursor on line 5; the test is for the def on line 3.
    (redis-ai-test-push
     (redis-ai-test--result "tests" '(((title . "test_double") (path . "tests/test_m.py")
                                       (text . "def test_double(): pass\n") (line . 3)))))
    (let ((ov (car (redis-ai-annotations))))
      (should ov)
      (should (= (line-number-at-pos (overlay-start ov)) 3)))
    ;; Without a line in the item, the result's line it is.
    (redis-ai-test-push
     (redis-ai-test--result "tests" '(((title . "test_double") (text . "x")))))
    (should (= (line-number-at-pos (overlay-start (car (redis-ai-annotations)))) 5))))

(ert-deftest redis-ai-unit-each-suggestion-is-reported-shown-once ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode "x = "
    (redis-ai-mode 1)
    (let ((sent nil))
      ;; Observe what the plugin would send; sending itself is not needed here.
      (cl-flet ((record (method params &rest _)
                  (when (eq method 'feedback)
                    (push (cons (alist-get 'action params) (alist-get 'suggestion params))
                          sent))))
        (advice-add 'redis-ai-call :before #'record)
        (unwind-protect
            (progn
              (redis-ai-test--completion "abc" "xyz")
              (should (equal (redis-ai-ghost-text) "abc"))
              (should (equal sent '(("shown" . "1-0/completion"))))
              ;; Cycling shows the other one, once; back and forth again, nothing new.
              (redis-ai-test-type "M-n M-p M-n")
              (should (equal (redis-ai-ghost-text) "xyz"))
              ;; Typing the ghost's next character redraws the same suggestion.
              (redis-ai-test-type "x")
              (should (equal (redis-ai-ghost-text) "yz"))
              (should (equal sent '(("shown" . "1-0/completion")
                                    ("shown" . "1-0/completion")))))
          (advice-remove 'redis-ai-call #'record))))))

(ert-deftest redis-ai-unit-one-outcome-per-suggestion ()
  (redis-ai-test-with-buffer #'redis-ai-test-major-mode "x = "
    (redis-ai-mode 1)
    (let ((sent nil))
      (cl-flet ((record (method params &rest _)
                  (when (eq method 'feedback)
                    (push (alist-get 'action params) sent))))
        (advice-add 'redis-ai-call :before #'record)
        (unwind-protect
            (progn
              ;; Taken in pieces (a word, then the rest), one suggestion is one
              ;; partial acceptance: acceptance per shown suggestion stays <= 1.
              (redis-ai-test--completion "alpha beta")
              (redis-ai-test-type "C-c r w")
              (should (equal (redis-ai-ghost-text) " beta"))
              (redis-ai-test-type "TAB")
              (should (equal (buffer-string) "x = alpha beta"))
              (should (equal (reverse sent) '("shown" "accepted_partial")))
              ;; Dismissing what remains of a partly taken one adds nothing either.
              (setq sent nil)
              (redis-ai-test--completion "gamma delta")
              (redis-ai-test-type "C-c r w C-c r d")
              (should (equal (reverse sent) '("shown" "accepted_partial"))))
          (advice-remove 'redis-ai-call #'record))))))

(ert-deftest redis-ai-unit-daemon-command-is-the-checkout-s ()
  (let ((exec-path '("/usr/bin" "/bin"))
        (redis-ai-daemon-command '("redis-ai" "daemon")))
    (should (equal (redis-ai-daemon-argv)
                   (list (expand-file-name "../.venv/bin/redis-ai"
                                           (file-name-directory (locate-library "redis-ai")))
                         "daemon")))
    (let ((redis-ai-daemon-command '("redis-ai-nowhere" "daemon")))
      (should-error (redis-ai-daemon-argv) :type 'user-error))))

(provide 'redis-ai-unit-test)
;;; redis-ai-unit-test.el ends here
