;;; redis-ai-daemon-test.el --- redis-ai tests against a live daemon  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs.py with the environment of a real daemon
;; (REDIS_AI_RUNTIME_DIR) on a real Redis.  Tests tagged `daemon' need
;; the default analyzers (code_analysis and the test analyzer that
;; offers "alpha beta gamma\ndelta epsilon" at the cursor); tests
;; tagged `slow' need the test analyzer `slow', which answers after
;; 300 ms.  Keys are typed through the real command loop; restarting
;; and pausing the daemon is asked of pytest (`redis-ai-test-ask').

;;; Code:

(require 'redis-ai-test-helpers)
(require 'python)

(defconst redis-ai-test-completion "alpha beta gamma\ndelta epsilon"
  "What the test completion analyzer offers.")

(setq redis-ai-reconnect-min-delay 0.05
      redis-ai-reconnect-max-delay 0.5
      redis-ai-log-traffic t)

(defun redis-ai-test-ready ()
  "Connect to the daemon if needed and wait until it accepted `hello'."
  (redis-ai-connection-ensure)
  (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready))))

(defmacro redis-ai-test-with-python (text &rest body)
  "Run BODY in a `python-mode' buffer holding TEXT, with `redis-ai-mode' on."
  (declare (indent 1))
  `(redis-ai-test-with-buffer #'python-mode ,text
     (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
     (redis-ai-mode 1)
     (redis-ai-test-ready)
     ,@body))

(defun redis-ai-test-our-diagnostics ()
  "Return the Flymake diagnostics of the redis-ai backend in this buffer."
  (seq-filter (lambda (d) (eq (flymake-diagnostic-backend d) 'redis-ai-flymake))
              (flymake-diagnostics)))

(defun redis-ai-test-wait-ghost (&optional text)
  "Wait until the ghost text at point is TEXT (default the test completion)."
  (let ((text (or text redis-ai-test-completion)))
    (redis-ai-test-wait (lambda () (and (equal (redis-ai-ghost-text) text)
                                        (eql (redis-ai-ghost-position) (point)))))))

(ert-deftest redis-ai-daemon-hello ()
  :tags '(daemon)
  (redis-ai-test-ready)
  (should (string-prefix-p "c-" redis-ai--client))
  (should (= (alist-get 'protocol redis-ai--hello) 1))
  (should (member "fixed_completion" (alist-get 'analyzers redis-ai--hello)))
  (should (equal (redis-ai--lighter) " RAI"))
  (let (status)
    (redis-ai-call 'status nil (lambda (reply) (setq status reply)))
    (redis-ai-test-wait (lambda () status))
    (should (alist-get 'connection status))))

(ert-deftest redis-ai-daemon-diagnostic-at-the-right-line ()
  :tags '(daemon)
  (redis-ai-test-with-python "import os\n\n\ndef f():\n    return undefined_name\n"
    (goto-char (point-min))
    (redis-ai-test-type "C-n C-e")
    (let* ((diags (redis-ai-test-wait
                   (lambda ()
                     (seq-filter (lambda (d) (string-match-p "undefined_name"
                                                             (flymake-diagnostic-text d)))
                                 (redis-ai-test-our-diagnostics)))))
           (diag (car diags)))
      (should (= (length diags) 1))
      (should (eq (flymake-diagnostic-type diag) :error))
      (should (= (line-number-at-pos (flymake-diagnostic-beg diag)) 5))
      (should (equal (buffer-substring (flymake-diagnostic-beg diag)
                                       (flymake-diagnostic-end diag))
                     "undefined_name")))
    ;; Columns are characters: the text before this name is not ASCII,
    ;; and reached the daemon as UTF-8.
    (goto-char (point-max))
    (redis-ai-test-type (vconcat "s = 'αβγ é' + later_name"))
    (let ((diag (car (redis-ai-test-wait
                      (lambda ()
                        (seq-filter (lambda (d) (string-match-p "later_name"
                                                                (flymake-diagnostic-text d)))
                                    (redis-ai-test-our-diagnostics)))))))
      (should (equal (buffer-substring (flymake-diagnostic-beg diag)
                                       (flymake-diagnostic-end diag))
                     "later_name")))
    ;; Fixing the error and typing clears it.
    (goto-char (point-min))
    (search-forward "undefined_name")
    (redis-ai-test-type (vconcat (kbd "M-DEL") "os.sep"))
    (redis-ai-test-wait
     (lambda ()
       (not (seq-find (lambda (d) (string-match-p "undefined_name"
                                                  (flymake-diagnostic-text d)))
                      (redis-ai-test-our-diagnostics)))))))

(ert-deftest redis-ai-daemon-completion-accepted-whole ()
  :tags '(daemon)
  (redis-ai-test-with-python "x = "
    (redis-ai-test-type "a")
    (redis-ai-test-wait-ghost)
    (redis-ai-test-type "TAB")
    (should (equal (buffer-string) (concat "x = a" redis-ai-test-completion)))
    (should-not (redis-ai-ghost-text))
    ;; The next one is dismissed (pytest checks the daemon recorded both).
    (redis-ai-test-wait-ghost)
    (redis-ai-test-type "C-c r d")
    (should-not (redis-ai-ghost-text))))

(ert-deftest redis-ai-daemon-completion-accepted-by-word-and-line ()
  :tags '(daemon)
  (redis-ai-test-with-python "x = "
    (redis-ai-test-type "b")
    (redis-ai-test-wait-ghost)
    ;; One go through the command loop: no new result can land in between.
    (redis-ai-test-type "M-<right> M-<right> M-<down>")
    (should (equal (buffer-string) "x = balpha beta gamma"))
    (should (equal (redis-ai-ghost-text) "\ndelta epsilon"))
    (redis-ai-test-type "M-<down>")
    (should (equal (buffer-string) (concat "x = b" redis-ai-test-completion)))
    ;; The edit is sent, and a fresh completion comes for the new point.
    (redis-ai-test-wait-ghost)))

(ert-deftest redis-ai-daemon-execute-code-is-sent-at-once ()
  :tags '(daemon)
  (redis-ai-test-with-python "def f():\n    return 1\n"
    (let ((redis-ai-debounce 30)
          (sent nil))
      (add-hook 'redis-ai-event-functions (lambda (event) (push event sent)) nil t)
      (goto-char (point-min))
      (forward-line 1)
      ;; python-mode's own C-c C-c fails without a Python process; the
      ;; event goes anyway, without waiting for the (long) debounce.
      (redis-ai-test-type "C-c C-c")
      (let ((event (redis-ai-test-wait (lambda () (car sent)) 5)))
        (should (equal (alist-get 'intent event) "execute_code"))
        (should (equal (alist-get 'keys event) "C-c C-c"))
        (should (equal (alist-get 'region event) [1 2]))))))

(ert-deftest redis-ai-daemon-typing-without-pause-still-sends ()
  :tags '(daemon)
  (redis-ai-test-with-python "x = "
    (let ((redis-ai-debounce 0.2)
          (redis-ai-max-wait 0.3)
          (sent 0))
      (add-hook 'redis-ai-event-functions (lambda (_) (setq sent (1+ sent))) nil t)
      ;; A key every 50 ms for a second: never a 200 ms pause.
      (dotimes (_ 20)
        (redis-ai-test-type "a")
        (redis-ai-test-settle 0.05))
      (should (>= sent 2)))))

(ert-deftest redis-ai-daemon-wrong-token-is-refused-and-retried ()
  :tags '(daemon)
  (redis-ai-test-ready)
  (let* ((forged (make-temp-file "redis-ai-forged" t))
         (discovery (redis-ai-read-discovery))
         (redis-ai-runtime-directory forged))
    (unwind-protect
        (progn
          (with-temp-file (expand-file-name "daemon.json" forged)
            (insert (redis-ai-json-encode
                     `((pid . ,(alist-get 'pid discovery)) (protocol . 1)
                       (epc_port . ,(alist-get 'epc_port discovery))
                       (token . "not-the-token")))))
          (with-current-buffer (get-buffer-create redis-ai--log-buffer) (erase-buffer))
          (with-current-buffer (messages-buffer)
            (let ((inhibit-read-only t)) (erase-buffer)))
          (redis-ai-connection-restart)
          ;; The real daemon cannot prove a token it does not hold: no
          ;; hello is sent to it, and the user is told once, not at
          ;; every attempt.
          (redis-ai-test-wait
           (lambda ()
             (with-current-buffer redis-ai--log-buffer
               (>= (how-many "is not your daemon" (point-min) (point-max)) 2))))
          (should-not (redis-ai-connected-p))
          (should (string-match-p "proof of the token is wrong" redis-ai--last-error))
          (with-current-buffer redis-ai--log-buffer
            (should (= 0 (how-many "hello" (point-min) (point-max)))))
          (with-current-buffer (messages-buffer)
            (should (= 1 (how-many "did not prove it is your daemon"
                                   (point-min) (point-max))))))
      (delete-directory forged t)))
  (redis-ai-connection-restart)
  (redis-ai-test-ready))

(ert-deftest redis-ai-daemon-status-is-readable-text ()
  :tags '(daemon)
  (redis-ai-test-with-python "x = "
    (when (get-buffer "*redis-ai status*") (kill-buffer "*redis-ai status*"))
    (redis-ai-test-type "C-c r s")
    (let ((text (redis-ai-test-wait
                 (lambda () (and (get-buffer "*redis-ai status*")
                                 (with-current-buffer "*redis-ai status*"
                                   (and (> (buffer-size) 0) (buffer-string))))))))
      (should (string-match-p
               "^Daemon [^ ]+, version [0-9.]+, up [0-9]+ s, [0-9]+ editors? connected\\.$" text))
      (should (string-match-p (format "^This Emacs: client %s, [0-9]+ events? sent"
                                      redis-ai--client)
                              text))
      (should (string-match-p "^Redis [0-9.]+ at " text))
      (should (string-match-p "^  code_analysis +[0-9]+ pending, lag " text))
      ;; Sentences, not the raw map: no "key: value" lines, no field names.
      (should-not (let ((case-fold-search nil))
                    (string-match-p "^ *[a-z_]+:\\( \\|$\\)" text)))
      (should-not (string-match-p "uptime_s\\|stale_results\\|last_delivered" text)))))

(ert-deftest redis-ai-daemon-start-when-one-runs-says-so ()
  :tags '(daemon)
  (redis-ai-test-ready)
  (let ((redis-ai--daemon-process nil)
        (pid (alist-get 'pid (redis-ai-read-discovery))))
    (with-current-buffer (messages-buffer)
      (let ((inhibit-read-only t)) (erase-buffer)))
    (redis-ai-start-daemon)
    (should-not redis-ai--daemon-process)
    (should (string-match-p (format "a daemon already runs (pid %d, EPC port" pid)
                            (with-current-buffer (messages-buffer) (buffer-string))))
    (should (redis-ai-connected-p))))

(ert-deftest redis-ai-daemon-killed-and-restarted-is-reconnected ()
  :tags '(daemon)
  (redis-ai-test-with-python "x = "
    (let ((client redis-ai--client)
          (generation redis-ai--generation)
          (pid (alist-get 'pid (redis-ai-read-discovery))))
      (redis-ai-test-ask "kill")
      (redis-ai-test-wait (lambda () (not (eq redis-ai--state 'ready))))
      (should (equal (redis-ai--lighter) " RAI[off]"))
      ;; Typing while the daemon is away keeps working and is kept.
      (redis-ai-test-type "c")
      (redis-ai-test-ask "start")
      (redis-ai-test-ready)
      (should (> redis-ai--generation generation))
      (should (equal redis-ai--client client))
      (should-not (equal (alist-get 'pid (redis-ai-read-discovery)) pid))
      ;; What was typed while it was away is sent now.
      (redis-ai-test-wait-ghost)
      (should (equal (buffer-string) "x = c")))))

(ert-deftest redis-ai-daemon-paused-does-not-freeze-emacs ()
  :tags '(daemon)
  (redis-ai-test-with-python "x = "
    (let ((redis-ai-call-timeout 0.3)
          (typed ""))
      (redis-ai-test-ask "pause")
      (unwind-protect
          (progn
            ;; Type in bursts with pauses, so that sends are attempted.
            (dotimes (i 30)
              (let ((word (format "w%d " i)))
                (redis-ai-test-type (vconcat word))
                (setq typed (concat typed word))
                (redis-ai-test-settle 0.03)))
            (should (equal (buffer-string) (concat "x = " typed)))
            (redis-ai-test-wait (lambda () (eq redis-ai--state 'stalled)))
            (should (equal (redis-ai--lighter) " RAI[stalled]"))
            (should (<= (hash-table-count redis-ai--inflight) redis-ai-max-inflight))
            (should (<= redis-ai--inflight-bytes redis-ai-max-inflight-bytes))
            ;; The commands answer without the daemon.
            (redis-ai-test-type "C-c r s C-c r r")
            (should (equal redis-ai--pending "request"))
            (redis-ai-test-type "z")
            (should (equal (buffer-string) (concat "x = " typed "z"))))
        (redis-ai-test-ask "resume"))
      (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
      ;; What waited is sent, and its completion drawn at point.
      (redis-ai-test-wait-ghost))))

(ert-deftest redis-ai-daemon-paused-with-a-big-buffer-does-not-block-sends ()
  :tags '(daemon)
  ;; Unbounded, 12 sends of 600 KB to a daemon that does not read would
  ;; fill the loopback socket buffers and block Emacs in
  ;; `process-send-string'.  No analyzer takes text-mode buffers.
  (redis-ai-test-with-buffer #'text-mode (make-string 600000 ?x)
    (redis-ai-mode 1)
    (redis-ai-test-ready)
    (let ((redis-ai-call-timeout 0.3)
          (redis-ai-whole-buffer-limit (* 1024 1024))
          (sent 0))
      (add-hook 'redis-ai-event-functions (lambda (_) (setq sent (1+ sent))) nil t)
      (redis-ai-test-ask "pause")
      (unwind-protect
          (progn
            ;; Pauses longer than the debounce: each key is sent, if it can be.
            (dotimes (_ 12)
              (redis-ai-test-type "y")
              (redis-ai-test-settle (* 1.2 redis-ai-debounce)))
            (should (= (buffer-size) 600012))
            (should (<= redis-ai--inflight-bytes redis-ai-max-inflight-bytes))
            (should (<= sent 2))
            (redis-ai-test-wait (lambda () (eq redis-ai--state 'stalled))))
        (redis-ai-test-ask "resume"))
      (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
      (redis-ai-test-wait (lambda () (null redis-ai--pending))))))

(ert-deftest redis-ai-daemon-stale-result-is-dropped ()
  :tags '(slow)
  (redis-ai-test-with-python "x = "
    (let ((redis-ai-debounce 2.0)
          (sent nil)
          (results nil))
      (add-hook 'redis-ai-event-functions (lambda (event) (push event sent)) nil t)
      (add-hook 'redis-ai-result-functions
                (lambda (result shown)
                  (when (equal (alist-get 'analyzer result) "slow")
                    (push (cons result shown) results)))
                nil t)
      (redis-ai-test-type "C-c r r")
      (let ((old (alist-get 'tick (redis-ai-test-wait (lambda () (car sent))))))
        ;; The buffer changes while the slow analyzer works on OLD, and
        ;; the change is not sent before its result arrives (a result
        ;; older than what the daemon has seen would be dropped there).
        (redis-ai-test-type "y")
        (let ((first (redis-ai-test-wait (lambda () (car (last results))))))
          (should (= (alist-get 'tick (car first)) old))
          (should-not (cdr first))
          (should-not (redis-ai-annotations)))
        ;; The newer state's result is shown.
        (let ((new (redis-ai-test-wait
                    (lambda () (seq-find #'cdr results)) 10)))
          (should (= (alist-get 'tick (car new)) (buffer-chars-modified-tick)))
          (should (string-match-p
                   (format "slow hint for tick %d" (buffer-chars-modified-tick))
                   (overlay-get (car (redis-ai-annotations)) 'help-echo))))))))

(defconst redis-ai-test-sample
  "def double(x: int) -> int:
    \"\"\"Twice x.

    >>> double(2)
    4
    \"\"\"
    return x * 2


def collect(items):
    out = []
    for item in items:
        out.append(item * 2)
    return out
"
  "A module with a testable function and a loop that a comprehension would speed up.")

(ert-deftest redis-ai-daemon-real-analyzers-hints-and-tests ()
  :tags '(analyzers)
  (let* ((project (make-temp-file "redis-ai-project" t))
         (file (expand-file-name "sample.py" project)))
    (unwind-protect
        (progn
          (with-temp-file (expand-file-name "pyproject.toml" project)
            (insert "[project]\nname = \"sample\"\n"))
          (with-temp-file file (insert redis-ai-test-sample))
          (with-current-buffer (find-file file)
            (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
            (redis-ai-mode 1)
            (redis-ai-test-ready)
            ;; A hint with a rewrite, from typing anywhere.
            (goto-char (point-min))
            (redis-ai-test-type "C-e")
            (let* ((ov (redis-ai-test-wait
                        (lambda ()
                          (seq-find (lambda (ov)
                                      (equal (alist-get 'code (plist-get (overlay-get ov 'redis-ai-annotation) :item))
                                             "PERF401"))
                                    (redis-ai-annotations)))))
                   (item (plist-get (overlay-get ov 'redis-ai-annotation) :item)))
              (should (= (line-number-at-pos (overlay-start ov)) (alist-get 'line item)))
              (should (stringp (alist-get 'rewrite item)))
              (redis-ai-annotation-apply ov)
              (should (string-match-p "out = \\[" (buffer-string)))
              (should-not (string-match-p "out.append" (buffer-string))))
            ;; Tests for the function at point, opened when they come.
            (goto-char (point-min))
            (search-forward "return x")
            (kill-buffer (get-buffer-create "*redis-ai annotation*"))
            (redis-ai-test-type "C-c r t")
            (redis-ai-test-wait (lambda () (get-buffer "*redis-ai annotation*")))
            (let* ((ov (seq-find (lambda (ov) (equal (plist-get (overlay-get ov 'redis-ai-annotation) :kind)
                                                     "tests"))
                                 (redis-ai-annotations)))
                   (item (plist-get (overlay-get ov 'redis-ai-annotation) :item)))
              (should (string-match-p "double" (alist-get 'text item)))
              (should (string-match-p "test_sample\\.py\\'" (alist-get 'path item)))
              (should (string-match-p "double"
                                      (with-current-buffer "*redis-ai annotation*" (buffer-string))))
              (with-current-buffer (redis-ai-insert-test item (alist-get 'path item))
                (should (equal (buffer-string) (alist-get 'text item)))
                (set-buffer-modified-p nil)
                (kill-buffer)))
            (set-buffer-modified-p nil)
            (kill-buffer)))
      (delete-directory project t))))

(ert-deftest redis-ai-daemon-started-from-emacs ()
  :tags '(start)
  (let ((redis-ai-daemon-command
         (split-string-and-unquote (getenv "REDIS_AI_TEST_DAEMON_COMMAND"))))
    (should-not (redis-ai-read-discovery))
    (redis-ai-start-daemon)
    (unwind-protect
        (progn
          (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)) 30)
          (should (equal (alist-get 'pid (redis-ai-read-discovery))
                         (process-id redis-ai--daemon-process)))
          (redis-ai-test-with-python "x = "
            (redis-ai-test-type "d")
            (redis-ai-test-wait-ghost)))
      (redis-ai-connection-close)
      (signal-process redis-ai--daemon-process 'TERM)
      (redis-ai-test-wait (lambda () (not (process-live-p redis-ai--daemon-process)))))))

(ert-deftest redis-ai-daemon-started-from-the-checkout ()
  "With the default command and no redis-ai on PATH, the checkout's runs."
  :tags '(start-checkout)
  (should-not (executable-find "redis-ai"))
  (should-not (redis-ai-read-discovery))
  (redis-ai-start-daemon)
  (unwind-protect
      (progn
        (should (equal (car (process-command redis-ai--daemon-process))
                       redis-ai--checkout-program))
        (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)) 60)
        (should (equal (alist-get 'pid (redis-ai-read-discovery))
                       (process-id redis-ai--daemon-process)))
        (with-current-buffer (messages-buffer)
          (let ((inhibit-read-only t)) (erase-buffer)))
        (redis-ai-start-daemon)
        (should (string-match-p "the daemon is already running"
                                (with-current-buffer (messages-buffer) (buffer-string)))))
    (redis-ai-connection-close)
    (signal-process redis-ai--daemon-process 'TERM)
    (redis-ai-test-wait (lambda () (not (process-live-p redis-ai--daemon-process))) 30)))

(provide 'redis-ai-daemon-test)
;;; redis-ai-daemon-test.el ends here
