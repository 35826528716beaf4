;;; redis-ai-handshake-test.el --- The plugin talks only to the user's daemon  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_handshake.py against a real daemon.  When
;; asked for `impostor', pytest kills the daemon and listens on its
;; freed port itself, answering every call as a daemon would (with a
;; made-up proof) and keeping every byte it receives; it checks
;; afterwards that neither the token nor any buffer text reached it.
;; `stale' does the same but leaves the discovery file naming the dead
;; daemon's pid; `daemon' stops the impostor and starts the real
;; daemon again, on a new port and with a new token.

;;; Code:

(require 'redis-ai-test-helpers)
(require 'python)

(setq redis-ai-reconnect-min-delay 0.05
      redis-ai-reconnect-max-delay 0.3
      redis-ai-log-traffic t)

(defconst redis-ai-handshake-test-completion "alpha beta gamma\ndelta epsilon"
  "What the test completion analyzer offers.")

(defun redis-ai-handshake-test--count (regexp buffer)
  "Return how many times REGEXP matches in BUFFER."
  (with-current-buffer (get-buffer-create buffer)
    (how-many regexp (point-min) (point-max))))

(defun redis-ai-handshake-test--clear ()
  "Empty the log and *Messages*."
  (with-current-buffer (get-buffer-create redis-ai--log-buffer) (erase-buffer))
  (with-current-buffer (messages-buffer)
    (let ((inhibit-read-only t)) (erase-buffer))))

(defmacro redis-ai-handshake-test--with-python (text &rest body)
  "Run BODY in a `python-mode' buffer with TEXT and `redis-ai-mode', connected."
  (declare (indent 1))
  `(redis-ai-test-with-buffer #'python-mode ,text
     (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
     (redis-ai-mode 1)
     (redis-ai-connection-ensure)
     (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
     ,@body))

(defun redis-ai-handshake-test--wait-ghost ()
  "Wait until the test completion shows at point."
  (redis-ai-test-wait
   (lambda () (and (equal (redis-ai-ghost-text) redis-ai-handshake-test-completion)
                   (eql (redis-ai-ghost-position) (point))))))

(ert-deftest redis-ai-handshake-impostor-gets-no-token-and-no-code ()
  :tags '(impostor)
  (redis-ai-handshake-test--with-python "SECRET_BUFFER_TEXT = 1\nx = "
    (let ((port (alist-get 'epc_port (redis-ai-read-discovery))))
      (redis-ai-handshake-test--clear)
      (redis-ai-test-ask "impostor")
      ;; Emacs goes back to the port the discovery file names, where a
      ;; stranger now answers, and hangs up on it each time.
      (redis-ai-test-wait
       (lambda () (>= (redis-ai-handshake-test--count "is not your daemon" redis-ai--log-buffer)
                      2)))
      (should (string-match-p (format "port %d is not your daemon (its proof of the token is wrong)"
                                      port)
                              redis-ai--last-error))
      ;; Typing goes on; nothing of it goes to the stranger.
      (redis-ai-test-type (vconcat "SECRET_TYPED"))
      (redis-ai-test-settle (* 3 redis-ai-debounce))
      (should-not (redis-ai-connected-p))
      (should redis-ai--pending)
      ;; The user is told once, in plain words, not at every attempt.
      (should (= 1 (redis-ai-handshake-test--count
                    (format "the server on port %d did not prove it is your daemon" port)
                    (messages-buffer))))
      (should (= 0 (redis-ai-handshake-test--count "call hello\\|call event"
                                                   redis-ai--log-buffer))))
    ;; The real daemon comes back (a new port, a new token): it proves
    ;; itself, and what was typed meanwhile reaches it.
    (redis-ai-test-ask "daemon")
    (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
    (should (equal (buffer-substring (line-beginning-position) (point)) "x = SECRET_TYPED"))
    (redis-ai-handshake-test--wait-ghost)))

(ert-deftest redis-ai-handshake-stale-discovery-is-not-connected-to ()
  :tags '(stale)
  (redis-ai-handshake-test--with-python "x = "
    (redis-ai-handshake-test--clear)
    (redis-ai-test-ask "stale")
    ;; The discovery file names a pid that is gone: no daemon, and the
    ;; port it names is not tried.
    (redis-ai-test-wait
     (lambda () (>= (redis-ai-handshake-test--count "no daemon: pid [0-9]+ of .* is gone"
                                                    redis-ai--log-buffer)
                    3)))
    (should (= 0 (redis-ai-handshake-test--count "connected to port" redis-ai--log-buffer)))
    (redis-ai-test-ask "daemon")
    (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
    (redis-ai-test-type "a")
    (redis-ai-handshake-test--wait-ghost)))

(provide 'redis-ai-handshake-test)
;;; redis-ai-handshake-test.el ends here
