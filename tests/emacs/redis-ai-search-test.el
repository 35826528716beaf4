;;; redis-ai-search-test.el --- ERT tests of redis-ai-search  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_search.py.  The `unit' tests need no daemon;
;; the `daemon' tests talk to a real daemon on a real Redis and ask
;; pytest (through `redis-ai-test-ask') to index the sample folder
;; named by $REDIS_AI_TEST_SAMPLES with the real `redis-ai index'.

;;; Code:

(require 'ert)
(require 'project)
(require 'xref)
(require 'redis-ai-test-helpers)
(require 'redis-ai-search)

(defun redis-ai-search-test--messages ()
  "Return the text of the *Messages* buffer."
  (with-current-buffer (messages-buffer) (buffer-string)))

(defun redis-ai-search-test--clear-messages ()
  "Empty the *Messages* buffer."
  (with-current-buffer (messages-buffer)
    (let ((inhibit-read-only t)) (erase-buffer))))

(defun redis-ai-search-test--xref-places ()
  "Return the places listed in the *xref* buffer as (FILE . LINE), in order."
  (with-current-buffer (get-buffer xref-buffer-name)
    (let ((pos (point-min)) places)
      (while (setq pos (next-single-property-change pos 'xref-item))
        (let ((item (get-text-property pos 'xref-item)))
          (when item
            (let ((location (xref-item-location item)))
              (push (cons (xref-location-group location) (xref-location-line location))
                    places)))))
      (nreverse places))))

(defun redis-ai-search-test--line-of (file regexp)
  "Return the number of the first line of FILE matching REGEXP."
  (with-temp-buffer
    (insert-file-contents file)
    (goto-char (point-min))
    (re-search-forward regexp)
    (line-number-at-pos)))

;;; Without a daemon

(ert-deftest redis-ai-search-unit-xrefs ()
  "A reply becomes xref items: summary name, score, first code line."
  :tags '(unit)
  (let* ((reply `((hits . (((file . "/src/a.py") (line . 12) (end_line . 20)
                            (name . "Client.retry") (score . 0.8712)
                            (preview . "\n    def retry(self):\n        pass"))
                           ;; Strings are data, whatever they hold.
                           ((file . "/src/(shell-command \"x\").py") (line . 3) (end_line . 3)
                            (name . "") (score . 0.5) (preview . "(delete-file \"/\")"))
                           ((file . "/src/bad.py") (line . 0) (name . "no line"))
                           ((line . 4) (name . "no file"))))
                  (chunks . 9) (backend . "scan")))
         (xrefs (redis-ai-search-xrefs reply)))
    (should (= (length xrefs) 2))
    (let ((first (xref-item-location (car xrefs))))
      (should (equal (xref-location-group first) "/src/a.py"))
      (should (= (xref-location-line first) 12)))
    (should (equal (substring-no-properties (xref-item-summary (car xrefs)))
                   "Client.retry  0.87  def retry(self):"))
    (should (equal (substring-no-properties (xref-item-summary (cadr xrefs)))
                   "0.50  (delete-file \"/\")"))
    (should (equal (xref-location-group (xref-item-location (cadr xrefs)))
                   "/src/(shell-command \"x\").py"))
    (should-not (redis-ai-search-xrefs '((hits) (chunks . 0))))))

(ert-deftest redis-ai-search-unit-default-query ()
  "The default query is the active region, else the symbol at point."
  :tags '(unit)
  (with-temp-buffer
    (insert "def load_settings(path):\n    return  open(path)\n")
    (transient-mark-mode 1)
    (goto-char (point-min))
    (search-forward "load_")
    (should (equal (redis-ai-search--default-query) "load_settings"))
    (set-mark (point-min))
    (goto-char (point-max))
    (activate-mark)
    (should (equal (redis-ai-search--default-query)
                   "def load_settings(path): return open(path)"))))

(ert-deftest redis-ai-search-unit-not-connected ()
  "Without a daemon the command says so at once."
  :tags '(unit)
  (redis-ai-search-test--clear-messages)
  (should-not (redis-ai-connected-p))
  (redis-ai-search "anything at all")
  (should (string-match-p "redis-ai: not connected to the daemon"
                          (redis-ai-search-test--messages)))
  (redis-ai-connection-close))

;;; With a daemon

(ert-deftest redis-ai-search-daemon ()
  "Search from the key map: nothing indexed, then the sample's places in xref."
  :tags '(daemon)
  (let* ((samples (file-name-as-directory (getenv "REDIS_AI_TEST_SAMPLES")))
         (target (expand-file-name "net/retry.py" samples))
         (target-line (redis-ai-search-test--line-of target "^def connect_with_retry"))
         (settings (expand-file-name "config/settings.py" samples))
         (settings-line (redis-ai-search-test--line-of settings "^def load_settings"))
         (query (vconcat (kbd "C-c r S") "retry the connection with backoff" (kbd "RET")))
         origin)
    (when (get-buffer xref-buffer-name)
      (kill-buffer xref-buffer-name))
    (redis-ai-test-with-buffer #'fundamental-mode "x = 1\n"
      (redis-ai-mode 1)
      (setq origin (current-buffer))
      (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
      ;; Nothing indexed yet: the user is told how to index.
      (redis-ai-search-test--clear-messages)
      (redis-ai-test-type query)
      (should-not redis-ai-test-command-errors)
      (redis-ai-test-wait (lambda () (string-match-p "nothing is indexed yet: run redis-ai index"
                                                     (redis-ai-search-test--messages))))
      (should-not (get-buffer xref-buffer-name))
      (redis-ai-test-ask "index")
      ;; Indexed: the plain-words query finds the retrying function first.
      (redis-ai-test-type query)
      (redis-ai-test-wait (lambda () (get-buffer xref-buffer-name)))
      (let ((places (redis-ai-search-test--xref-places)))
        (should (equal (car places) (cons target target-line)))
        (should (<= (length places) redis-ai-search-results)))
      ;; next-error, from the buffer the search started in, goes to the first place.
      (switch-to-buffer origin)
      (next-error)
      (should (equal (buffer-file-name) target))
      (should (= (line-number-at-pos) target-line))
      (switch-to-buffer origin)
      ;; With a prefix argument, only the current project is searched.
      (kill-buffer xref-buffer-name)
      (let ((project-find-functions
             (list (lambda (_dir) (cons 'transient (expand-file-name "config/" samples))))))
        (redis-ai-test-type (vconcat (kbd "C-u C-c r S") "read the settings file"
                                     (kbd "RET")))
        (redis-ai-test-wait (lambda () (get-buffer xref-buffer-name)))
        (let ((places (redis-ai-search-test--xref-places)))
          (should (equal (car places) (cons settings settings-line)))
          (dolist (place places)
            (should (string-prefix-p (expand-file-name "config/" samples) (car place))))))
      (should-not redis-ai-test-command-errors))))

(provide 'redis-ai-search-test)
;;; redis-ai-search-test.el ends here
