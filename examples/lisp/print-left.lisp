;;; print-left: a hint on every print() call left at the start of a Python statement.
;;; Define it with --languages python --kind hints.

(define (print-call-p text)
  (let ((code (string-trim text)))
    (or (string-prefix-p "print(" code)
        (string-prefix-p "print (" code))))

(define (analyze)
  (let loop ((entries (buffer-lines)) (found nil))
    (cond ((null entries) (reverse found))
          ((print-call-p (cdr (car entries)))
           (loop (cdr entries)
                 (cons (hint (car (car entries)) "print() left in the code: use logging, or remove it"
                             "print-left")
                       found)))
          (t (loop (cdr entries) found)))))
