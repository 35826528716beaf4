;;; print-left: a hint on every print() call left at the start of a Python statement.
;;; Define it with --languages python --kind hints.

(define (print-call-p text)
  (let ((code (string-trim text)))
    (or (string-prefix-p "print(" code)
        (string-prefix-p "print (" code))))

(define (analyze)
  (map (lambda (entry)
         (hint (car entry) "print() left in the code: use logging, or remove it" "print-left"))
       (filter (lambda (entry) (print-call-p (cdr entry)))
               (buffer-lines-with "print"))))
