;;; redis-ai-search-test.el --- ERT tests of redis-ai-search  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_search.py.  The `unit' tests need no daemon;
;; the `daemon' tests talk to a real daemon on a real Redis and ask
;; pytest (through `redis-ai-test-ask') to index the sample folder
;; named by $REDIS_AI_TEST_SAMPLES with the real `redis-ai index'.

;;; Code:

(require 'ert)
(require 'project)
(require 'seq)
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

(defun redis-ai-search-test--sample (file regexp)
  "Return (PATH . LINE): FILE of the sample folder and its first line matching REGEXP."
  (let ((path (expand-file-name file (getenv "REDIS_AI_TEST_SAMPLES"))))
    (cons path (redis-ai-search-test--line-of path regexp))))

(defun redis-ai-search-test--await-xrefs ()
  "Wait for the *xref* buffer, return its places and kill it."
  (redis-ai-test-wait (lambda () (get-buffer xref-buffer-name)))
  (prog1 (redis-ai-search-test--xref-places)
    (kill-buffer xref-buffer-name)))

(defun redis-ai-search-test--in-project (folder)
  "Return `project-find-functions' making FOLDER the current project."
  (list (lambda (_dir) (cons 'transient (file-name-as-directory folder)))))

(ert-deftest redis-ai-search-daemon ()
  "Nothing indexed, then the sample's places in xref; `next-error' visits them."
  :tags '(daemon)
  (let* ((retry (redis-ai-search-test--sample "net/retry.py" "^def connect_with_retry"))
         (settings (redis-ai-search-test--sample "config/settings.py" "^def load_settings"))
         (config (file-name-directory (car settings)))
         origin)
    (when (get-buffer xref-buffer-name)
      (kill-buffer xref-buffer-name))
    (redis-ai-test-with-buffer #'fundamental-mode "x = 1\n"
      (setq origin (current-buffer))
      (redis-ai-mode 1)
      (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
      ;; Nothing indexed yet: the user is told how to index.
      (redis-ai-search-test--clear-messages)
      (redis-ai-search "retry the connection with backoff")
      (redis-ai-test-wait (lambda () (string-match-p "nothing is indexed yet: run redis-ai index"
                                                     (redis-ai-search-test--messages))))
      (should-not (get-buffer xref-buffer-name))
      (redis-ai-test-ask "index")
      ;; Indexed: the plain-words query finds the retrying function first.
      (redis-ai-search "retry the connection with backoff")
      (redis-ai-test-wait (lambda () (get-buffer xref-buffer-name)))
      (let ((places (redis-ai-search-test--xref-places)))
        (should (equal (car places) retry))
        (should (<= (length places) redis-ai-search-results)))
      ;; next-error (M-g n), from the buffer the search started in, goes to the first place.
      (switch-to-buffer origin)
      (redis-ai-test-type "M-g n")
      (with-current-buffer (window-buffer (selected-window))
        (should (equal (buffer-file-name) (car retry)))
        (should (= (line-number-at-pos (window-point)) (cdr retry))))
      (switch-to-buffer origin)
      (kill-buffer xref-buffer-name)
      ;; Under a root, only its files.
      (redis-ai-search "read the settings file" (directory-file-name config))
      (let ((places (redis-ai-search-test--await-xrefs)))
        (should (equal (car places) settings))
        (dolist (place places)
          (should (string-prefix-p config (car place)))))
      ;; The daemon's refusal is shown as it is.
      (redis-ai-search-test--clear-messages)
      (let ((redis-ai-search-results 51))
        (redis-ai-search "anything"))
      (redis-ai-test-wait (lambda () (string-match-p "redis-ai: search failed: .*k must be between 1 and 50"
                                                     (redis-ai-search-test--messages)))))))

(ert-deftest redis-ai-search-prompt ()
  "The key map's command prompts for the query; a prefix argument keeps to the project.
Batch Emacs reads the minibuffer from standard input, where pytest writes the queries."
  :tags '(prompt)
  (let* ((retry (redis-ai-search-test--sample "net/retry.py" "^def connect_with_retry"))
         (settings (redis-ai-search-test--sample "config/settings.py" "^def load_settings"))
         (config (file-name-directory (car settings))))
    (when (get-buffer xref-buffer-name)
      (kill-buffer xref-buffer-name))
    (redis-ai-test-with-buffer #'fundamental-mode "x = 1\n"
      (redis-ai-mode 1)
      (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
      (should (eq (key-binding (kbd "C-c r S")) #'redis-ai-search))
      ;; First line of stdin: "retry the connection with backoff".
      (redis-ai-test-type "C-c r S")
      (should (equal (car (redis-ai-search-test--await-xrefs)) retry))
      ;; Second line: "read the settings file", in the project of the config folder only.
      (let ((project-find-functions (redis-ai-search-test--in-project config)))
        (redis-ai-test-type "C-u C-c r S"))
      (let ((places (redis-ai-search-test--await-xrefs)))
        (should (equal (car places) settings))
        (should (seq-every-p (lambda (place) (string-prefix-p config (car place))) places)))
      (should-not redis-ai-test-command-errors))))

(provide 'redis-ai-search-test)
;;; redis-ai-search-test.el ends here
