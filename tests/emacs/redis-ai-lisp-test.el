;;; redis-ai-lisp-test.el --- ERT tests of redis-ai-lisp  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_lisp.py.  The `unit' tests need no daemon;
;; the `daemon' tests talk to a real daemon running the real `lisp'
;; analyzer on a real Redis: a program defined from one buffer flags
;; what is typed in another, through Flymake.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'seq)
(require 'python)
(require 'redis-ai-test-helpers)
(require 'redis-ai-lisp)

(setq redis-ai-reconnect-min-delay 0.05
      redis-ai-reconnect-max-delay 0.5)

(defun redis-ai-lisp-test--ready ()
  "Connect to the daemon if needed and wait until it accepted `hello'."
  (redis-ai-connection-ensure)
  (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready))))

(defun redis-ai-lisp-test--messages ()
  "Return the text of the *Messages* buffer."
  (with-current-buffer (messages-buffer) (buffer-string)))

(defun redis-ai-lisp-test--wait-message (regexp)
  "Wait until *Messages* holds a line matching REGEXP; return the line."
  (redis-ai-test-wait
   (lambda ()
     (let ((text (redis-ai-lisp-test--messages)))
       (and (string-match (concat "^.*" regexp ".*$") text)
            (match-string 0 text))))))

(defun redis-ai-lisp-test--clear-messages ()
  "Empty the *Messages* buffer."
  (with-current-buffer (messages-buffer)
    (let ((inhibit-read-only t)) (erase-buffer))))

(defun redis-ai-lisp-test--diagnostics ()
  "Return (LINE . TEXT) of each redis-ai Flymake diagnostic here, by line."
  (sort (mapcar (lambda (d) (cons (line-number-at-pos (flymake-diagnostic-beg d))
                                  (flymake-diagnostic-text d)))
                (seq-filter (lambda (d) (eq (flymake-diagnostic-backend d) 'redis-ai-flymake))
                            (flymake-diagnostics)))
        (lambda (a b) (< (car a) (car b)))))

(defun redis-ai-lisp-test--program (message &optional broken)
  "Return a program flagging lines that hold SHOUT with MESSAGE.
With BROKEN, the message's string is never closed."
  (concat ";; kind: diagnostics\n"
          ";; description: lines that shout\n"
          "(define (analyze)\n"
          "  (map (lambda (entry)\n"
          "         (diagnostic (car entry) 0 \"" message (if broken "" "\"")
          " 'warning \"shout\"))\n"
          "       (buffer-lines-with \"SHOUT\")))\n"))

;;; Without a daemon

(ert-deftest redis-ai-lisp-unit-header ()
  "Settings come from the comment lines before the first form only."
  :tags '(unit)
  (should (equal (redis-ai-lisp-header
                  ";;; todo.lisp: hints on TODO\n;; kind: hints\n\n;; languages: python, lua\n;; description: TODO comments \n(define x 1)\n;; kind: diagnostics\n")
                 '((kind . "hints") (languages "python" "lua")
                   (description . "TODO comments"))))
  (should-not (redis-ai-lisp-header "(define x 1)\n;; kind: hints\n"))
  (should (equal (redis-ai-lisp-header ";; languages:\n") '((languages)))))

(ert-deftest redis-ai-lisp-unit-errors ()
  "The daemon's error text is unquoted as text; a reader error gives its place."
  :tags '(unit)
  (let ((text (redis-ai-lisp--error-text
               "\"bad_value: shout not defined: line 3, col 10: unterminated \\\"string\\\" \\\\ x\"")))
    (should (equal text "shout not defined: line 3, col 10: unterminated \"string\" \\ x"))
    (should (equal (redis-ai-lisp-error-position text) '(3 . 10))))
  ;; Other refusals name no place, even when their text holds one.
  (should-not (redis-ai-lisp-error-position
               "shout not defined: shout: line 1, col 2: in (error \"x\")"))
  (should (equal (redis-ai-lisp--error-text '(error "Connection lost")) "Connection lost")))

(ert-deftest redis-ai-lisp-unit-goto ()
  "A reader position is counted from the start of the text sent."
  :tags '(unit)
  (with-temp-buffer
    (insert "one\ntwo\n  (three\tfour\nfive\n")
    (redis-ai-lisp--goto (current-buffer) (point-min) 3 9)
    (should (= (line-number-at-pos) 3))
    (should (looking-at "four"))
    ;; Sent from the middle of line 2: its first line's columns start there.
    (redis-ai-lisp--goto (current-buffer) 7 1 1)
    (should (= (point) 8))
    (redis-ai-lisp--goto (current-buffer) 7 2 99)
    (should (= (point) (save-excursion (goto-char (point-min)) (forward-line 2)
                                       (line-end-position))))))

(ert-deftest redis-ai-lisp-unit-asks-kind-once ()
  "Without a kind in the header, the kind is asked once per buffer."
  :tags '(unit)
  (with-temp-buffer
    (let ((asked 0))
      (cl-letf (((symbol-function 'completing-read)
                 (lambda (&rest _) (setq asked (1+ asked)) "hints")))
        (should (equal (redis-ai-lisp--kind nil) "hints"))
        (should (equal (redis-ai-lisp--kind nil) "hints"))
        (should (equal (redis-ai-lisp--kind '((kind . "diagnostics"))) "diagnostics")))
      (should (= asked 1)))))

(ert-deftest redis-ai-lisp-unit-entries-and-lines ()
  "List entries and run lines are built from data, whatever it holds."
  :tags '(unit)
  (let ((entries (redis-ai-lisp-list-entries
                  '((programs ((name . "a") (version . 2) (kind . "hints") (analyzer . t)
                               (languages "python") (description . "(delete-file \"/\")")
                               (requires "h") (updated . 0))
                              ((name . "h") (version . 1) (kind . "diagnostics")
                               (analyzer) (languages) (requires) (description . ""))
                              ((version . 1))
                              "junk")))))
    (should (equal (mapcar #'car entries) '("a" "h")))
    (should (equal (aref (cadr (car entries)) 2) "hints"))
    (should (equal (aref (cadr (car entries)) 6) "(delete-file \"/\")"))
    (should (equal (aref (cadr (cadr entries)) 2) "helper"))
    (should (equal (aref (cadr (cadr entries)) 3) "all")))
  (should (equal (redis-ai-lisp-run-lines
                  "/src/a.py"
                  '((items ((line . 2) (col . 0) (message . "m") (code . "c") (severity . "warning"))
                           ((line . 3) (message . "h"))
                           ((message . "no line")))
                    (steps . 10)))
                 '("/src/a.py:2:1: warning: m [c]" "/src/a.py:3:1: hint: h []"))))

;; Evolving

(ert-deftest redis-ai-lisp-unit-evolve-examples-and-outcome ()
  "Examples become the params of `lisp_evolve'; an outcome is shown as text."
  :tags '(unit)
  (let ((redis-ai-lisp-examples nil)
        (redis-ai-lisp-evolve-model "gpt-lisp"))
    (with-temp-buffer
      (python-mode)
      (insert "a = 1\nprint(a)\n")
      (cl-letf (((symbol-function 'display-buffer) #'ignore))
        (redis-ai-lisp-example-flag 7 16)
        (redis-ai-lisp-example-ok (point-min) (point-max))
        (should-error (redis-ai-lisp-example-ok 1 1) :type 'user-error)))
    (with-current-buffer redis-ai-lisp-examples-buffer
      (should (string-match-p "^ 1 flag +[^ ]+:2-2 +print(a)$" (buffer-string)))
      (should (string-match-p "^ 2 ok .*a = 1\\\\nprint(a)$" (buffer-string)))
      ;; `k' on the first example removes it, the other stays.
      (goto-char (point-min))
      (forward-line 1)
      (redis-ai-lisp-examples-remove)
      (should (= (length redis-ai-lisp-examples) 1))
      (should (string-match-p "^ 1 ok " (buffer-string))))
    (with-temp-buffer
      (insert "print(b)\n")
      (cl-letf (((symbol-function 'display-buffer) #'ignore))
        (redis-ai-lisp-example-flag (point-min) (point-max))))
    (let ((params (redis-ai-lisp-evolve-params "p" "flag print" nil)))
      (should (equal (alist-get 'model params) "gpt-lisp"))
      (should (equal (alist-get 'offline params) :false))
      (should (equal (mapcar (lambda (e) (alist-get 'flag e)) (alist-get 'examples params))
                     '(:false t)))
      (should (equal (alist-get 'language (aref (alist-get 'examples params) 0)) "python-mode"))
      (should (equal (alist-get 'text (aref (alist-get 'examples params) 1)) "print(b)\n"))
      (should-not (assq 'origin (aref (alist-get 'examples params) 0)))
      ;; Offline: no model named; the examples go as a JSON list.
      (let ((offline (redis-ai-lisp-evolve-params "p" "flag print" t)))
        (should (eq (alist-get 'offline offline) t))
        (should-not (assq 'model offline))
        (should (string-match-p "\"examples\":\\[{" (redis-ai-json-encode offline))))))
  (let ((lines (redis-ai-lisp-evolve-lines
                "flag print"
                '((name . "p") (live . t) (version . 3) (train_examples . 4)
                  (held_out_examples . 2) (author . "offline") (generations . 2) (tokens . 0)
                  (seconds . 0.4) (lineage . "v3 (live): gen 2 by offline-search")
                  (candidates ((generation . 1) (model . "offline-search")
                               (train (precision . 1.0) (recall . 0.5) (errors . 0)))
                              ((generation . 2) (model . "offline-search") (live . t)
                               (train (precision . 1.0) (recall . 1.0) (errors . 0))
                               (held_out (precision . 1.0) (recall . 1.0) (errors . 0))))
                  (winner (source . "(delete-file \"/\")\n(define (analyze) nil)"))))))
    (should (equal (car lines) "redis-ai evolve p: live as version 3"))
    (should (member "lineage: v3 (live): gen 2 by offline-search" lines))
    (should (member "gen 1 (offline-search): train P=1.0 R=0.5 errors=0; held-out -" lines))
    (should (member "gen 2 (offline-search): train P=1.0 R=1.0 errors=0; held-out P=1.0 R=1.0 errors=0 -> live"
                    lines))
    ;; The program is only text here: it was not run.
    (should (member "(delete-file \"/\")" lines))
    (should (file-exists-p "/")))
  (should (equal (car (redis-ai-lisp-evolve-lines
                       "r" '((name . "p") (live . :false) (why . "no candidate passed"))))
                 "redis-ai evolve p: not live: no candidate passed")))

;;; With a daemon

(ert-deftest redis-ai-lisp-define-redefine-refuse-list-run-remove ()
  "The essential workflow, against the daemon's real `lisp' analyzer."
  :tags '(daemon)
  (let* ((folder (make-temp-file "redis-ai-lisp" t))
         (file (expand-file-name "shout-lines.lisp" folder))
         program)
    (unwind-protect
        (progn
          (with-temp-file file (insert (redis-ai-lisp-test--program "first message")))
          (setq program (find-file-noselect file))
          (redis-ai-lisp-test--ready)
          (redis-ai-test-with-buffer #'python-mode "x = 1\n"
            (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
            (redis-ai-mode 1)
            (let ((code (current-buffer)))
              ;; Define the program from its buffer, by its key: named after the file.
              (switch-to-buffer program)
              (redis-ai-mode 1)
              (redis-ai-lisp-test--clear-messages)
              (redis-ai-test-type "C-c r L")
              (redis-ai-lisp-test--wait-message
               "defined shout-lines version 1: 1 forms, diagnostics")
              ;; Typing in another buffer: the program's diagnostic appears.
              (switch-to-buffer code)
              (goto-char (point-max))
              (redis-ai-test-type "SHOUT = 2")
              (should (equal (redis-ai-test-wait #'redis-ai-lisp-test--diagnostics)
                             '((2 . "lisp:shout-lines: first message [shout]"))))

              ;; Redefined: the next keystroke brings the new message.
              (with-current-buffer program
                (erase-buffer)
                (insert (redis-ai-lisp-test--program "second message")))
              (switch-to-buffer program)
              (redis-ai-test-type "C-c r L")
              (redis-ai-lisp-test--wait-message "defined shout-lines version 2")
              (switch-to-buffer code)
              (redis-ai-test-type "RET S H O U T")
              (should (equal (redis-ai-test-wait
                              (lambda ()
                                (let ((d (redis-ai-lisp-test--diagnostics)))
                                  (and (equal (cdar d) "lisp:shout-lines: second message [shout]") (= (length d) 2) d))))
                             '((2 . "lisp:shout-lines: second message [shout]") (3 . "lisp:shout-lines: second message [shout]"))))

              ;; A broken version is refused with its place; point goes there, and
              ;; the stored version keeps running.
              (with-current-buffer program
                (erase-buffer)
                (insert (redis-ai-lisp-test--program "third message" t))
                (goto-char (point-min)))
              (switch-to-buffer program)
              (redis-ai-test-type "C-c r L")
              (should (string-match-p
                       "redis-ai: shout-lines not defined: line 6, col 32: unterminated string"
                       (redis-ai-lisp-test--wait-message "shout-lines not defined")))
              ;; (The string opened on line 5 ends at the next quote, so the one left
              ;; open is the last.)
              (should (= (line-number-at-pos) 6))
              (should (looking-at-p "\")))$"))
              (switch-to-buffer code)
              (redis-ai-test-type "RET S H O U T")
              (should (equal (redis-ai-test-wait
                              (lambda ()
                                (let ((d (redis-ai-lisp-test--diagnostics)))
                                  (and (= (length d) 3) d))))
                             '((2 . "lisp:shout-lines: second message [shout]") (3 . "lisp:shout-lines: second message [shout]")
                               (4 . "lisp:shout-lines: second message [shout]"))))

              ;; A region is its own text: its reader errors count from its start.
              (with-current-buffer program
                (erase-buffer)
                (insert ";; notes\n\n(define ok 1)\n(define bad \"open\n")
                (redis-ai-lisp-test--clear-messages)
                ;; No header in the region: the kind chosen before for this buffer.
                (setq redis-ai-lisp--kind "hints")
                (redis-ai-lisp-define "region-test" (save-excursion
                                                      (goto-char (point-min))
                                                      (forward-line 2)
                                                      (point))
                                      (point-max))
                (redis-ai-lisp-test--wait-message "region-test not defined: line 2, col 12")
                (should (= (line-number-at-pos) 4))
                (should (looking-at-p "\"open")))

              ;; Try it on the Python buffer: its items, listed.
              (switch-to-buffer code)
              (with-current-buffer program
                (redis-ai-lisp-run "shout-lines" code))
              (redis-ai-test-wait (lambda () (get-buffer redis-ai-lisp-run-buffer)))
              (should (string-match-p
                       ":3:1: warning: second message \\[shout\\]"
                       (redis-ai-test-wait
                        (lambda ()
                          (with-current-buffer redis-ai-lisp-run-buffer
                            (and (string-match-p "3 items" (buffer-string))
                                 (buffer-string)))))))

              ;; The list: the program with its settings; RET opens its source.
              (redis-ai-lisp-list)
              (redis-ai-test-wait (lambda ()
                                    (with-current-buffer redis-ai-lisp-list-buffer
                                      tabulated-list-entries)))
              (with-current-buffer redis-ai-lisp-list-buffer
                (let ((row (cadr (assoc "shout-lines" tabulated-list-entries))))
                  (should (equal (aref row 1) "2"))
                  (should (equal (aref row 2) "diagnostics"))
                  (should (equal (aref row 6) "lines that shout")))
                (goto-char (point-min))
                (while (not (equal (tabulated-list-get-id) "shout-lines"))
                  (forward-line 1))
                (redis-ai-lisp-list-open))
              (let ((shown (redis-ai-test-wait (lambda () (get-buffer "*redis-ai lisp: shout-lines*")))))
                (with-current-buffer shown
                  (should (string-match-p "\"second message\"" (buffer-string)))
                  (should (derived-mode-p (if (fboundp 'lisp-data-mode) 'lisp-data-mode 'lisp-mode)))
                  (should (equal (redis-ai-lisp-default-name) "shout-lines"))))

              ;; `d' removes it after asking; the list and the diagnostics follow.
              (with-current-buffer redis-ai-lisp-list-buffer
                (let (asked)
                  (cl-letf (((symbol-function 'yes-or-no-p)
                             (lambda (prompt) (setq asked prompt) t)))
                    (switch-to-buffer (current-buffer))
                    (redis-ai-test-type "d"))
                  (should (equal asked "Remove the Lisp program shout-lines? "))))
              (redis-ai-lisp-test--wait-message "removed shout-lines")
              (redis-ai-test-wait (lambda ()
                                    (with-current-buffer redis-ai-lisp-list-buffer
                                      (not (assoc "shout-lines" tabulated-list-entries)))))
              (switch-to-buffer code)
              (redis-ai-test-type "SPC")
              (redis-ai-test-wait (lambda () (null (redis-ai-lisp-test--diagnostics)))))))
      (when (buffer-live-p program)
        (with-current-buffer program (set-buffer-modified-p nil))
        (kill-buffer program))
      (delete-directory folder t))))

;; Lines 1-13 must be flagged, 15-25 must not (one region each).
(defconst redis-ai-lisp-test--code
  (concat "def f(x):\n    print(x)\n    return x\n\n"
          "class A:\n    def run(self):\n        print('running')\n\n"
          "x = compute()\nprint(x, file=sys.stderr)\n\n"
          "def g():\n    print ('done')\n\n"
          "def f(x):\n    logger.info(x)\n    return x\n\n"
          "def show():\n    return 'no print here'\n\n"
          "value = 1\n\n"
          "def h():\n    log(h)\n")
  "A Python buffer holding the examples of print() left in code.")

(ert-deftest redis-ai-lisp-evolve-from-marked-regions ()
  "Regions marked by key, evolved offline by the daemon: live, shown, and running."
  :tags '(daemon)
  (setq redis-ai-lisp-examples nil)
  (transient-mark-mode 1)
  (redis-ai-lisp-test--ready)
  (redis-ai-test-with-buffer #'python-mode redis-ai-lisp-test--code
    (remove-hook 'flymake-diagnostic-functions #'python-flymake t)
    (redis-ai-mode 1)
    (dolist (region '((1 3 "+") (5 7 "+") (9 10 "+") (12 13 "+")
                      (15 17 "-") (19 20 "-") (22 22 "-") (24 25 "-")))
      (goto-char (point-min))
      (forward-line (1- (nth 0 region)))
      (push-mark (point) t t)
      (forward-line (- (nth 1 region) (nth 0 region) -1))
      (redis-ai-test-type (concat "C-c r " (nth 2 region))))
    (should (equal (mapcar (lambda (e) (alist-get 'flag e)) redis-ai-lisp-examples)
                   '(:false :false :false :false t t t t)))
    (with-current-buffer redis-ai-lisp-examples-buffer
      (should (string-match-p "^ 1 flag .*:1-3 +def f(x):\\\\n    print(x)" (buffer-string)))
      (should (string-match-p "^ 8 ok .*:24-25 " (buffer-string))))
    (redis-ai-lisp-test--clear-messages)
    ;; C-u C-c r E: offline; the name and the request are read.
    (let ((answers (list "print-left" "flag print() calls left in code")))
      (cl-letf (((symbol-function 'read-string) (lambda (&rest _) (pop answers))))
        (redis-ai-test-type "C-u C-c r E")))
    (should-not redis-ai-test-command-errors)
    (redis-ai-lisp-test--wait-message "evolving print-left from 8 examples (offline)")
    (let ((shown (redis-ai-test-wait
                  (lambda ()
                    (let ((b (get-buffer redis-ai-lisp-evolve-buffer)))
                      (and b (with-current-buffer b (buffer-string)))))
                  30)))
      (should (string-match-p "\\`redis-ai evolve print-left: live as version 1\n" shown))
      (should (string-match-p "^request: flag print() calls left in code$" shown))
      (should (string-match-p "^lineage: v1 (live): gen 1 by offline-search (offline)" shown))
      (should (string-match-p "^gen [0-9] (offline-search): .* -> live$" shown))
      (should (string-match-p "^(define (analyze)" shown)))
    (redis-ai-lisp-test--wait-message "redis-ai evolve print-left: live as version 1")
    ;; The winner runs in the daemon's lisp analyzer: Flymake shows it on the print lines.
    (goto-char (point-max))
    (redis-ai-test-type "SPC")
    (should (equal (mapcar #'car (redis-ai-test-wait
                                  (lambda ()
                                    (seq-filter (lambda (d) (string-prefix-p "lisp:print-left" (cdr d)))
                                                (redis-ai-lisp-test--diagnostics)))))
                   '(2 7 10 13)))))

(provide 'redis-ai-lisp-test)
;;; redis-ai-lisp-test.el ends here
