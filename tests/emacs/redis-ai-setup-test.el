;;; redis-ai-setup-test.el --- The README's set-up, as a user has it  -*- lexical-binding: t; -*-

;;; Commentary:

;; Run by tests/test_emacs_setup.py in `emacs -Q' after the README's
;; Emacs snippet, loaded as written (only the checkout's path put in):
;; nothing else is on the load path.  The daemon runs the real `lisp'
;; analyzer on a real Redis.

;;; Code:

(add-to-list 'load-path (file-name-directory (or load-file-name buffer-file-name)))
(require 'redis-ai-test-helpers)
(require 'python)

(ert-deftest redis-ai-setup-python-buffers-get-the-mode ()
  :tags '(setup)
  (redis-ai-test-with-buffer #'python-mode "x = 1\n"
    (should redis-ai-mode)))

(ert-deftest redis-ai-setup-lisp-commands-from-a-lisp-buffer ()
  "C-c r L in a .lisp file, where `redis-ai-mode' is not on."
  :tags '(setup)
  (let* ((folder (make-temp-file "redis-ai-setup" t))
         (file (expand-file-name "setup-shout.lisp" folder)))
    (unwind-protect
        (with-current-buffer (find-file file)
          (insert ";; kind: diagnostics\n"
                  "(define (analyze)\n"
                  "  (map (lambda (entry) (diagnostic (car entry) 0 \"shout\" 'warning \"s\"))\n"
                  "       (buffer-lines-with \"SHOUT\")))\n")
          (should (eq major-mode 'lisp-mode))
          (should-not redis-ai-mode)
          (should redis-ai-lisp-mode)
          (should (eq (key-binding (kbd "C-c r L")) #'redis-ai-lisp-define))
          (should (eq (key-binding (kbd "C-c r P")) #'redis-ai-lisp-list))
          (redis-ai-test-wait (lambda () (eq redis-ai--state 'ready)))
          (with-current-buffer (messages-buffer)
            (let ((inhibit-read-only t)) (erase-buffer)))
          (redis-ai-test-type "C-c r L")
          (should-not redis-ai-test-command-errors)
          (redis-ai-test-wait
           (lambda () (with-current-buffer (messages-buffer)
                        (save-excursion
                          (goto-char (point-min))
                          (re-search-forward "defined setup-shout version" nil t)))))
          (set-buffer-modified-p nil)
          (kill-buffer))
      (delete-directory folder t))))

(provide 'redis-ai-setup-test)
;;; redis-ai-setup-test.el ends here
