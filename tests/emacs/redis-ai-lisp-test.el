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

(provide 'redis-ai-lisp-test)
;;; redis-ai-lisp-test.el ends here
