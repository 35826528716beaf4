;;; redis-ai-next-edit-test.el --- ERT tests of next-edit suggestions  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_next_edit.py against a real daemon running
;; the next_edit analyzer on a real Redis: a def's name is renamed by
;; typing, the suggestion appears at its first use, C-c r j jumps
;; there, TAB applies it (one undo step), the next one follows, and a
;; suggestion is refused once the buffer changed under it.

;;; Code:

(require 'ert)
(require 'python)
(require 'redis-ai-test-helpers)

(setq redis-ai-reconnect-min-delay 0.05
      redis-ai-reconnect-max-delay 0.5)

(defconst redis-ai-next-edit-test-source
  "def parse_line(line):\n    return line.split()\n\n\nrows = [parse_line(x) for x in 'ab']\nprint(parse_line('c d'), 'parse_line')\n"
  "A def used twice in code, once in a string.")

(defun redis-ai-next-edit-test--drawn ()
  "Return (POSITION . TEXT) of the drawn suggestion, or nil."
  (and redis-ai-next-edit--overlay
       (cons (overlay-start redis-ai-next-edit--overlay)
             (substring-no-properties
              (overlay-get redis-ai-next-edit--overlay 'after-string)))))

(ert-deftest redis-ai-next-edit-daemon-rename-jump-accept ()
  :tags '(daemon)
  (redis-ai-test-with-buffer #'python-mode redis-ai-next-edit-test-source
    (redis-ai-mode 1)
    (redis-ai-connection-ensure)
    (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
    (setq redis-ai-test-command-errors nil)
    ;; A cursor move first: the daemon learns the text before the edit.
    (redis-ai-test-type "M-<")
    (redis-ai-test-settle 0.3)
    (redis-ai-test-type "M-f C-f C-d C-d C-d C-d C-d")
    (redis-ai-test-settle 0.2)
    (redis-ai-test-type "s p l i t")
    (should (string-prefix-p "def split_line(line):" (buffer-string)))
    (let ((use (save-excursion (goto-char (point-min))
                               (search-forward "[parse_line") (- (point) 10))))
      (redis-ai-test-wait (lambda () (equal (redis-ai-next-edit-test--drawn)
                                            (cons use "→split_line"))))
      (redis-ai-test-type "C-c r j")
      (should (eql (point) use))
      (should redis-ai-next-edit--active)
      (redis-ai-test-type "TAB")
      (should-not redis-ai-test-command-errors)
      (should (string-match-p "rows = \\[split_line(x)" (buffer-string)))
      ;; The daemon's answer to the accepted text: the use that is left.
      (redis-ai-test-wait (lambda () (and (eql redis-ai-next-edit--tick (buffer-chars-modified-tick))
                                          (= 1 (length redis-ai-next-edit--items)))))
      (redis-ai-test-type "C-c r j TAB")
      (should-not redis-ai-test-command-errors)
      (let ((done (concat "def split_line(line):\n    return line.split()\n\n\n"
                          "rows = [split_line(x) for x in 'ab']\n"
                          "print(split_line('c d'), 'parse_line')\n")))
        (should (equal (buffer-string) done))
        ;; One undo step takes one accepted edit back.
        (redis-ai-test-type "C-/")
        (should (equal (buffer-string) (replace-regexp-in-string
                                        "print(split_line" "print(parse_line" done t t))))
      ;; A suggestion made for another text is refused.
      (redis-ai-next-edit-take
       `((id . "x/next_edit") (items . [((line . 6) (col . 6) (end_line . 6) (end_col . 16)
                                         (text . "split_line") (title . "t"))])))
      (redis-ai-test-type "C-e SPC DEL C-c r e")
      (should (string-match-p "changed since"
                              (error-message-string (car redis-ai-test-command-errors))))
      (should (string-match-p "print(parse_line" (buffer-string))))))

(provide 'redis-ai-next-edit-test)
;;; redis-ai-next-edit-test.el ends here
