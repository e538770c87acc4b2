with

orders as (

    select * from {{ ref('stg_orders') }}

),

orders_flagged as (

    select
        order_id,
        order_date,
        amount,
        {{ counts_as_revenue('status') }} as counts_as_revenue

    from orders

),

daily as (

    select
        order_date,
        count(order_id) as number_of_orders,
        count(case when counts_as_revenue then order_id end) as number_of_revenue_orders,
        sum(case when counts_as_revenue then amount else 0 end) as revenue

    from orders_flagged
    group by order_date

),

final as (

    select
        order_date,
        cast(number_of_orders as bigint) as number_of_orders,
        cast(number_of_revenue_orders as bigint) as number_of_revenue_orders,
        cast(revenue as decimal(18, 2)) as revenue,
        {{ divide_money('revenue', 'number_of_revenue_orders') }} as average_order_value

    from daily

)

select * from final
