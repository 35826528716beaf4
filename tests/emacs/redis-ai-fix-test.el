;;; redis-ai-fix-test.el --- ERT tests of redis-ai-fix  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_fix.py.  The `daemon' tests talk to a real
;; daemon running the real code_analysis analyzer (ruff) on a real
;; Redis; what the fixes make of the buffer is compared with ruff's own
;; `--fix-only' run by hand on the same text, through the command line
;; pytest gives in REDIS_AI_TEST_RUFF_FIX (a JSON list).  The `unit'
;; tests feed results by hand for what ruff does not produce on demand
;; (overlapping fixes, malformed ones, an edit that fails half way).

;;; Code:

(require 'ert)
(require 'seq)
(require 'cl-lib)
(require 'python)
(require 'redis-ai-test-helpers)

(setq redis-ai-reconnect-min-delay 0.05
      redis-ai-reconnect-max-delay 0.5
      redis-ai-log-traffic t)

(defconst redis-ai-fix-test-source
  "import os\nimport sys\n\nprint(f\"café\", sys.argv)\nname = \"x\"\nprint(f\"hello {name}\")\n"
  "A buffer with two safe fixes in ruff's default set: F401 and F541.
The non-ASCII character checks that columns are characters.")

(defun redis-ai-fix-test--ruff (text &optional rule)
  "Return TEXT as ruff's `--fix-only' makes it, fixing only RULE if given."
  (let ((argv (or (getenv "REDIS_AI_TEST_RUFF_FIX")
                  (ert-skip "no REDIS_AI_TEST_RUFF_FIX: not run by pytest"))))
    (with-temp-buffer
      (insert text)
      (let* ((argv (append (json-parse-string argv :array-type 'list)
                           (and rule (list "--fixable" rule))))
             (coding-system-for-read 'utf-8)
             (coding-system-for-write 'utf-8)
             (rc (apply #'call-process-region (point-min) (point-max) (car argv) t
                        '(t nil) nil (cdr argv))))
        (should (eql rc 0))
        (buffer-string)))))

(defun redis-ai-fix-test--ready ()
  "Connect to the daemon if needed and wait until it accepted `hello'."
  (redis-ai-connection-ensure)
  (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready))))

(defun redis-ai-fix-test--fresh (n)
  "Return the held fixes once there are N, all for the buffer as it is now."
  (let ((all (redis-ai-fix--all)))
    (and (= (length all) n)
         (seq-every-p (lambda (e) (eql (car e) (buffer-chars-modified-tick))) all)
         all)))

(defmacro redis-ai-fix-test--with-python (text &rest body)
  "Run BODY in a `python-mode' buffer holding TEXT with its fixes offered.
`redis-ai-mode' is on, point at the start, the daemon's diagnostics in."
  (declare (indent 1))
  `(redis-ai-test-with-buffer #'python-mode ,text
     (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
     (redis-ai-mode 1)
     (redis-ai-fix-test--ready)
     (setq redis-ai-test-command-errors nil)
     (redis-ai-test-type "M-<")
     ,@body))

(defun redis-ai-fix-test--unsent (keys)
  "Type KEYS with what they change held back until `redis-ai-analyze' sends it."
  (let ((redis-ai-debounce 600)
        (redis-ai-max-wait 600))
    (redis-ai-test-type keys))
  ;; The timer armed for 600 s would hold back the next tests' events.
  (when redis-ai--send-timer
    (cancel-timer redis-ai--send-timer)
    (setq redis-ai--send-timer nil)))

(defun redis-ai-fix-test--our-texts ()
  "Return the texts of the redis-ai Flymake diagnostics in this buffer."
  (mapcar #'flymake-diagnostic-text
          (seq-filter (lambda (d) (eq (flymake-diagnostic-backend d) 'redis-ai-flymake))
                      (flymake-diagnostics))))

(ert-deftest redis-ai-fix-daemon-fix-all-is-ruffs-fix-and-one-undo ()
  :tags '(daemon)
  (redis-ai-fix-test--with-python redis-ai-fix-test-source
    (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 2)))
    ;; Flymake says which diagnostics have a fix, and how to apply it.
    (redis-ai-test-wait
     (lambda () (= 2 (seq-count (lambda (text) (string-suffix-p "(fix: C-c r f)" text))
                                (redis-ai-fix-test--our-texts)))))
    (redis-ai-test-type "C-c r F")
    (should-not redis-ai-test-command-errors)
    (should (equal (buffer-string) (redis-ai-fix-test--ruff redis-ai-fix-test-source)))
    (should-not (equal (buffer-string) redis-ai-fix-test-source))
    (redis-ai-test-type "C-/")
    (should-not redis-ai-test-command-errors)
    (should (equal (buffer-string) redis-ai-fix-test-source))
    ;; The daemon checks the text again: its fixes come back.
    (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 2)))))

(ert-deftest redis-ai-fix-daemon-fix-at-point-is-that-fix-alone ()
  :tags '(daemon)
  (redis-ai-fix-test--with-python redis-ai-fix-test-source
    (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 2)))
    ;; The other fix was computed for the text before the first one:
    ;; refused until the daemon has checked the new text, then offered
    ;; alone.  Typed at once, and sent only when asked (C-c r r), so
    ;; that no newer result can come in between.
    (redis-ai-fix-test--unsent "C-n C-n C-n C-c r f M-< C-c r f")
    (should (equal (buffer-string)
                   (redis-ai-fix-test--ruff redis-ai-fix-test-source "F541")))
    (should (= 1 (length redis-ai-test-command-errors)))
    (should (string-match-p "changed since"
                            (error-message-string (car redis-ai-test-command-errors))))
    (setq redis-ai-test-command-errors nil)
    (let ((fixed (buffer-string)))
      (redis-ai-test-type "C-c r r")
      (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 1)))
      (redis-ai-test-type "C-c r f")
      (should-not redis-ai-test-command-errors)
      (should (equal (buffer-string) (redis-ai-fix-test--ruff redis-ai-fix-test-source)))
      (redis-ai-test-type "C-/")
      (should (equal (buffer-string) fixed)))))

(ert-deftest redis-ai-fix-daemon-stale-fix-is-refused ()
  :tags '(daemon)
  (redis-ai-fix-test--with-python redis-ai-fix-test-source
    (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 2)))
    ;; An edit, then the fix, with no newer result in between.  The
    ;; fix's range is untouched; the text around it is not.
    (redis-ai-fix-test--unsent "C-n C-n C-n C-e SPC C-a C-c r f")
    (let ((edited (buffer-string)))
      (should (equal edited (replace-regexp-in-string "sys.argv)\n" "sys.argv) \n"
                                                      redis-ai-fix-test-source)))
      (should (= 1 (length redis-ai-test-command-errors)))
      (should (string-match-p "changed since"
                              (error-message-string (car redis-ai-test-command-errors))))
      (setq redis-ai-test-command-errors nil)
      (redis-ai-fix-test--unsent "C-c r F")
      (should (string-match-p "changed since"
                              (error-message-string (car redis-ai-test-command-errors))))
      (should (equal (buffer-string) edited))
      ;; Once the daemon has checked the edited text, its fixes apply.
      (setq redis-ai-test-command-errors nil)
      (redis-ai-test-type "C-c r r")
      (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 2)))
      (redis-ai-test-type "C-c r F")
      (should-not redis-ai-test-command-errors)
      (should (equal (buffer-string) (redis-ai-fix-test--ruff edited))))))

(ert-deftest redis-ai-fix-daemon-one-fix-for-two-diagnostics ()
  :tags '(daemon)
  ;; Both unused names get the same fix, removing the statement: it is
  ;; applied once, and both count as fixed.
  (let ((source "import os, sys\n\nx = 1\n"))
    (redis-ai-fix-test--with-python source
      (redis-ai-test-wait (lambda () (redis-ai-fix-test--fresh 2)))
      (redis-ai-test-type "C-c r F")
      (should-not redis-ai-test-command-errors)
      (should (equal (buffer-string) (redis-ai-fix-test--ruff source)))
      (should (string-match-p "^redis-ai: applied 2 fixes\n\\'"
                              (with-current-buffer (messages-buffer) (buffer-string)))))))

;;; Without a daemon: results given by hand

(defun redis-ai-fix-test--result (items)
  "Return a code_analysis diagnostics result of ITEMS for this buffer now."
  `((type . "result") (buffer . ,redis-ai--buffer-id) (analyzer . "code_analysis")
    (kind . "diagnostics") (tick . ,(buffer-chars-modified-tick))
    (id . "1-0/code_analysis") (items . ,(vconcat items))))

(defun redis-ai-fix-test--item (line code edits)
  "Return a diagnostic on LINE with CODE whose fix makes EDITS.
EDITS are (LINE COL END-LINE END-COL TEXT)."
  `((line . ,line) (col . 0) (end_line . ,line) (end_col . 1) (severity . "warning")
    (message . ,(format "%s here" code)) (code . ,code) (source . "ruff")
    (fix (title . ,(format "fix %s" code))
         (edits . ,(vconcat (mapcar (lambda (e)
                             `((line . ,(nth 0 e)) (col . ,(nth 1 e)) (end_line . ,(nth 2 e))
                               (end_col . ,(nth 3 e)) (text . ,(nth 4 e))))
                           edits))))))

(ert-deftest redis-ai-fix-unit-overlapping-and-malformed-fixes ()
  (redis-ai-test-with-buffer #'python-mode "aaa\nbbb\nccc\n"
    (redis-ai-mode 1)
    (redis-ai-test-push
     (redis-ai-fix-test--result
      (list (redis-ai-fix-test--item 1 "A" '((1 0 1 3 "AAA") (3 0 3 1 "C")))
            ;; Overlaps A's second edit: left for the next check.
            (redis-ai-fix-test--item 3 "B" '((3 0 3 3 "xyz")))
            ;; Ends before it starts, and a text that is not a string:
            ;; neither is offered.
            (redis-ai-fix-test--item 2 "C" '((2 2 2 1 "")))
            (redis-ai-fix-test--item 2 "D" '((2 0 2 1 ((eval . "boom"))))))))
    (should (equal (mapcar (lambda (e) (alist-get 'code (cdr e))) (redis-ai-fix--all))
                   '("A" "B")))
    (goto-char (point-min))
    (forward-line 1)
    (should-error (redis-ai-fix) :type 'user-error)
    (redis-ai-fix-all)
    (should (equal (buffer-string) "AAA\nbbb\nCcc\n"))
    (undo-boundary)
    (undo)
    (should (equal (buffer-string) "aaa\nbbb\nccc\n"))))

(ert-deftest redis-ai-fix-unit-several-on-a-line-and-the-context-menu ()
  (redis-ai-test-with-buffer #'python-mode "aaa bbb\n"
    (redis-ai-mode 1)
    (redis-ai-test-push
     (redis-ai-fix-test--result
      (list (redis-ai-fix-test--item 1 "A" '((1 0 1 3 "AAA")))
            (redis-ai-fix-test--item 1 "B" '((1 4 1 7 "BBB"))))))
    ;; Point on neither diagnostic: the user chooses.
    (goto-char (point-min))
    (end-of-line)
    (cl-letf (((symbol-function 'completing-read)
               (lambda (_prompt choices &rest _)
                 (car (seq-find (lambda (c) (string-match-p "B: fix B" (car c))) choices)))))
      (redis-ai-fix))
    (should (equal (buffer-string) "aaa BBB\n"))
    (redis-ai-test-push
     (redis-ai-fix-test--result
      (list (redis-ai-fix-test--item 1 "A" '((1 0 1 3 "AAA"))))))
    (let* ((click (list 'mouse-3 (list (selected-window) 2 '(0 . 0) 0)))
           (menu (redis-ai-fix-context-menu (make-sparse-keymap) click))
           (item (cdr (assq 'redis-ai-fix-0 menu))))
      (should (equal (nth 1 item) "Fix A: fix A"))
      (funcall-interactively (nth 2 item))
      (should (equal (buffer-string) "AAA BBB\n")))))

(ert-deftest redis-ai-fix-unit-a-failing-edit-changes-nothing ()
  (redis-ai-test-with-buffer #'python-mode "aaa\nbbb\n"
    (redis-ai-mode 1)
    (put-text-property 1 3 'read-only t)
    (redis-ai-test-push
     (redis-ai-fix-test--result
      (list (redis-ai-fix-test--item 1 "A" '((1 0 1 2 "x") (2 0 2 3 "BBB"))))))
    ;; The second edit applies, the first hits read-only text: neither stays.
    (should-error (redis-ai-fix-all) :type 'text-read-only)
    (let ((inhibit-read-only t))
      (should (equal (buffer-string) "aaa\nbbb\n")))))

(provide 'redis-ai-fix-test)
;;; redis-ai-fix-test.el ends here
