;;; redis-ai-test-helpers.el --- Helpers for the redis-ai ERT tests  -*- lexical-binding: t; -*-

;;; Commentary:

;; Real typing through the command loop, waiting with a deadline, and
;; the small file protocol through which a test asks pytest to act on
;; the daemon (restart it, pause it) while Emacs keeps running.

;;; Code:

(require 'ert)
(require 'redis-ai)

(defvar redis-ai-test-timeout 15
  "Seconds a test waits for something before it fails.")

(global-set-key [redis-ai-test-done] #'exit-recursive-edit)

(defvar redis-ai-test-command-errors nil
  "Errors signalled by the commands typed with `redis-ai-test-type'.")

(defun redis-ai-test-type (keys)
  "Type KEYS (a `kbd' string or a vector) through the real command loop.
`pre-command-hook', `post-command-hook' and key lookup run as they do
when a user types.  A command's error is kept in
`redis-ai-test-command-errors' (batch Emacs would exit on it)."
  (let ((events (listify-key-sequence (if (stringp keys) (kbd keys) keys)))
        ;; ERT's debugger would otherwise take errors the command loop handles.
        (debug-on-error nil)
        (command-error-function
         (lambda (data _context _signal)
           (push data redis-ai-test-command-errors))))
    (setq unread-command-events
          ;; (t . EVENT) records EVENT in `this-command-keys' as typed keys are.
          (append unread-command-events
                  (mapcar (lambda (event) (cons t event)) events)
                  (list 'redis-ai-test-done)))
    (recursive-edit)))

(defun redis-ai-test-wait (predicate &optional timeout)
  "Process input and timers until PREDICATE returns non-nil; return its value.
Fail the test after TIMEOUT seconds (default `redis-ai-test-timeout')."
  (let ((deadline (+ (float-time) (or timeout redis-ai-test-timeout)))
        value)
    (while (and (not (setq value (funcall predicate)))
                (< (float-time) deadline))
      (accept-process-output nil 0.01))
    (or value
        (ert-fail (list "timed out waiting for" predicate
                        :state redis-ai--state
                        :ghost (redis-ai-ghost-text)
                        :log (and (get-buffer redis-ai--log-buffer)
                                  (with-current-buffer redis-ai--log-buffer
                                    (buffer-string))))))))

(defun redis-ai-test-settle (seconds)
  "Process input and timers for SECONDS."
  (let ((deadline (+ (float-time) seconds)))
    (while (< (float-time) deadline)
      (accept-process-output nil 0.01))))

(defvar redis-ai-test--request-count 0
  "Number of the last request made to pytest.")

(defun redis-ai-test-ask (action)
  "Ask pytest to do ACTION to the daemon (\"restart\", \"pause\", ...).
Keep Emacs running (timers, process output) until pytest says it is done."
  (let* ((dir (or (getenv "REDIS_AI_TEST_CONTROL")
                  (ert-skip "no REDIS_AI_TEST_CONTROL: not run by pytest")))
         (n (setq redis-ai-test--request-count (1+ redis-ai-test--request-count)))
         (done (expand-file-name (format "done-%d" n) dir)))
    (with-temp-file (expand-file-name (format "request-%d.tmp" n) dir)
      (insert action))
    (rename-file (expand-file-name (format "request-%d.tmp" n) dir)
                 (expand-file-name (format "request-%d" n) dir))
    (redis-ai-test-wait (lambda () (file-exists-p done)) 60)))

(defmacro redis-ai-test-with-buffer (mode text &rest body)
  "Run BODY in a fresh buffer shown in the selected window, in MODE, with TEXT.
Point is at the end of TEXT; `redis-ai-mode' is off at first."
  (declare (indent 2))
  `(let ((buffer (generate-new-buffer "redis-ai-test.py")))
     (unwind-protect
         (progn
           (switch-to-buffer buffer)
           (funcall ,mode)
           (insert ,text)
           ,@body)
       (when (buffer-live-p buffer)
         (with-current-buffer buffer
           (set-buffer-modified-p nil)
           (when redis-ai-mode (redis-ai-mode -1)))
         (kill-buffer buffer)))))

(defun redis-ai-test-push (push)
  "Deliver PUSH (an alist) the way the daemon does: as one JSON string."
  (redis-ai--receive-push (redis-ai-json-encode push)))

(provide 'redis-ai-test-helpers)
;;; redis-ai-test-helpers.el ends here
